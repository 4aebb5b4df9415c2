//! `accord completions` and `accord man`: shell completions and manual pages, generated
//! from the command line's own definition, so that they never drift from `--help`.

use crate::exit::{Code, Output};
use anyhow::{bail, Context, Result};
use clap::{Args, CommandFactory};
use std::path::PathBuf;

/// Arguments of `accord completions`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  accord completions bash > ~/.local/share/bash-completion/completions/accord\n  accord completions zsh > \"${fpath[1]}/_accord\"\n  accord completions fish > ~/.config/fish/completions/accord.fish\n\nExit codes: 0 ok, 2 usage error (an unknown shell)."
)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `accord man`.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  accord man --out /usr/local/share/man/man1 && man accord-seal\n\nWrites accord.1 and accord-COMMAND[-SUBCOMMAND].1 for every command. An existing page\nis not overwritten unless --force is given.\n\nExit codes: 0 ok, 2 usage or input error (a page exists, the directory cannot be written)."
)]
pub struct ManArgs {
    /// The directory to write the pages into (made if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Overwrite pages that exist already.
    #[arg(long)]
    pub force: bool,
}

/// Print the completion script for `args.shell` on standard output.
pub fn completions(args: CompletionsArgs) -> Result<Code> {
    let mut cmd = crate::Cli::command();
    // Into memory first: the generator panics on a write error, and a reader that
    // closes the pipe (`| head`) must end the command quietly, as everywhere else.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "accord", &mut script);
    let mut stdout = crate::exit::Stdout(std::io::stdout().lock());
    std::io::Write::write_all(&mut stdout, &script).context("writing the script")?;
    std::io::Write::flush(&mut stdout).context("writing the script")?;
    Ok(Code::Ok)
}

/// Write a page per command (the whole tree) into `args.out`.
pub fn man(args: ManArgs, out: &Output) -> Result<Code> {
    let mut cmd = crate::Cli::command();
    cmd.build();
    let mut pages = Vec::new();
    collect(&cmd, "accord", &mut pages)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("making {}", args.out.display()))?;
    if !args.force {
        let existing: Vec<String> = pages
            .iter()
            .filter(|(name, _)| args.out.join(name).exists())
            .map(|(name, _)| name.clone())
            .collect();
        if !existing.is_empty() {
            bail!(
                "{} has {} of these pages already ({}{}): give --force to overwrite them",
                args.out.display(),
                existing.len(),
                existing[..existing.len().min(3)].join(", "),
                if existing.len() > 3 { ", ..." } else { "" }
            );
        }
    }
    for (name, page) in &pages {
        let path = args.out.join(name);
        std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
    }
    let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
    if out.json {
        out.print_json(&serde_json::json!({
            "dir": args.out.display().to_string(),
            "pages": names,
        }));
    } else {
        eprintln!(
            "wrote {} manual pages into {}",
            pages.len(),
            args.out.display()
        );
    }
    Ok(Code::Ok)
}

/// `cmd`'s page as `name.1`, then its subcommands' as `name-SUB.1`, depth first.
fn collect(cmd: &clap::Command, name: &str, pages: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    let cmd = cmd.clone().name(name.to_string());
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut page)
        .with_context(|| format!("rendering the page of {name}"))?;
    pages.push((format!("{name}.1"), page));
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        collect(sub, &format!("{name}-{}", sub.get_name()), pages)?;
    }
    Ok(())
}
