//! Security policies (XML-SPIF), confidentiality labels (STANAG 4774), clearances, markings, access decisions and translation
#![forbid(unsafe_code)]
