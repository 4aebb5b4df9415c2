use super::kas::pb::{self, Encode};
use super::*;
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Map, Value};

const GO_FIXTURE: &str = include_str!("../../tests/data/opentdf/unsigned-rewrap-go.json");
const PY_FIXTURE: &str = include_str!("../../tests/data/opentdf/unsigned-rewrap-otdf-python.json");

/// `openssl ecparam -name prime256v1`: one key, uncompressed and compressed.
const EC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDLWrDH7t08bSybpVDdmcgG3Dz0Qb
eMpYo8nyyUaZBu4vOXesDxhuS1edtpWCFDrtD4jz6k/paBg80l40/f1nEQ==
-----END PUBLIC KEY-----
";
const EC_COMPRESSED_PEM: &str = "-----BEGIN PUBLIC KEY-----
MDkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDIgADDLWrDH7t08bSybpVDdmcgG3Dz0Qb
eMpYo8nyyUaZBu4=
-----END PUBLIC KEY-----
";
const EC_POINT_HEX: &str = "040cb5ab0c7eedd3c6d2c9ba550dd99c806dc3cf441b78ca58a3c9f2c9469906ee\
                            2f3977ac0f186e4b579db69582143aed0f88f3ea4fe968183cd25e34fdfd6711";
const RSA1024_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCprEtkA6z+3RVR0yF3f6o/oN1T
chH18JwaFUdkD0D4893hdF4mAC9sV6ZRQvX84Z9CWK/FnVI+MlJENvNbs7WQC9qf
D0TE/yIFQX6ZysvCi5NVPCODLHJrm8tZe9rYVUmOBO7+dMiI5cwyDNiCO6qk0Jvg
Rhmh8etQWKSf6ODFcwIDAQAB
-----END PUBLIC KEY-----
";
const ED25519_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAe5NvHDBQrfHbUWzbHwm/LJtp4swbkKkqNXLVQklOQjo=
-----END PUBLIC KEY-----
";

fn err<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

fn proto_err(bytes: &[u8]) -> String {
    err(decode_rewrap_request(Codec::Proto, bytes))
}

// ---------------------------------------------------------------------------------
// Connect.
// ---------------------------------------------------------------------------------

#[test]
fn opentdf_connect_codes_statuses_and_error_body() {
    let table = [
        (Code::InvalidArgument, "invalid_argument", 400),
        (Code::Unauthenticated, "unauthenticated", 401),
        (Code::PermissionDenied, "permission_denied", 403),
        (Code::NotFound, "not_found", 404),
        (Code::ResourceExhausted, "resource_exhausted", 429),
        (Code::Internal, "internal", 500),
        (Code::Unimplemented, "unimplemented", 501),
        (Code::Unavailable, "unavailable", 503),
        (Code::FailedPrecondition, "failed_precondition", 400),
        (Code::DeadlineExceeded, "deadline_exceeded", 504),
    ];
    assert_eq!(table.len(), Code::ALL.len());
    for (code, s, status) in table {
        assert_eq!(code.as_str(), s);
        assert_eq!(code.http_status(), status);
        assert_eq!(Code::parse(s), Some(code));
    }
    assert_eq!(Code::parse("canceled"), None);

    let e = ConnectError::new(Code::NotFound, "no key for algorithm \"x\" on the PAK node");
    assert_eq!(
        e.to_json(),
        br#"{"code":"not_found","message":"no key for algorithm \"x\" on the PAK node"}"#
    );
    assert_eq!(e.http_status(), 404);
    assert_eq!(ConnectError::from_json(&e.to_json()), Some(e));
    assert_eq!(ConnectError::from_json(br#"{"code":"nope"}"#), None);
    assert_eq!(ConnectError::from_json(b"<html>"), None);

    // Errors of this module pick their code.
    assert_eq!(proto_err_code(&[0x0a]), Code::InvalidArgument);
    let big = Error::TooLarge {
        what: "x",
        limit: 1,
    };
    assert_eq!(big.to_connect().code, Code::ResourceExhausted);
    assert_eq!(Error::TokenTime("t".into()).code(), Code::Unauthenticated);
    assert_eq!(Error::Signature("s".into()).code(), Code::Unauthenticated);
}

fn proto_err_code(bytes: &[u8]) -> Code {
    match decode_rewrap_request(Codec::Proto, bytes) {
        Err(e) => e.code(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[test]
fn opentdf_connect_timeout_header() {
    assert_eq!(timeout_ms("5000"), Some(5000));
    assert_eq!(timeout_ms(" 42 "), Some(42));
    assert_eq!(timeout_ms("0"), Some(0));
    assert_eq!(timeout_ms("9999999999"), Some(9_999_999_999));
    for bad in ["", "12345678901", "-1", "1.5", "+5", "5s", "٣"] {
        assert_eq!(timeout_ms(bad), None, "{bad:?}");
    }
}

#[test]
fn opentdf_codec_from_content_type() {
    for (ct, codec) in [
        ("application/json", Some(Codec::Json)),
        ("application/json; charset=utf-8", Some(Codec::Json)),
        ("Application/JSON;charset=UTF-8", Some(Codec::Json)),
        ("application/proto", Some(Codec::Proto)),
        ("application/protobuf", Some(Codec::Proto)),
        (" application/proto ; x=y", Some(Codec::Proto)),
        ("application/connect+proto", None),
        ("text/plain", None),
        ("", None),
    ] {
        assert_eq!(Codec::from_content_type(ct), codec, "{ct:?}");
    }
    assert_eq!(Codec::Json.content_type(), "application/json");
    assert_eq!(Codec::Proto.content_type(), "application/proto");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn opentdf_gzip_inflate_is_bounded() {
    assert_eq!(inflate_gzip(&gzip(b"hello"), MAX_BODY).unwrap(), b"hello");
    // Two members read as one stream.
    let mut two = gzip(b"hel");
    two.extend(gzip(b"lo"));
    assert_eq!(inflate_gzip(&two, MAX_BODY).unwrap(), b"hello");
    // Zero-length content is not decompressed.
    assert_eq!(inflate_gzip(b"", MAX_BODY).unwrap(), b"");
    // Exactly at the bound, and one byte over it.
    let exact = vec![0u8; 1000];
    assert_eq!(inflate_gzip(&gzip(&exact), 1000).unwrap().len(), 1000);
    assert_eq!(
        err(inflate_gzip(&gzip(&[0u8; 1001]), 1000)),
        "the inflated gzip body is larger than 1000 bytes"
    );
    // A 2 MiB stream of zeros (about 2 KiB compressed) refused at 1 MiB.
    let bomb = gzip(&vec![0u8; 2 << 20]);
    assert!(bomb.len() < 8 * 1024, "{}", bomb.len());
    let e = inflate_gzip(&bomb, MAX_BODY).unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert_eq!(
        e.to_string(),
        "the inflated gzip body is larger than 1048576 bytes"
    );
    // Not gzip; truncated; trailing garbage.
    assert!(err(inflate_gzip(b"{\"a\":1}", MAX_BODY)).starts_with("gzip body: "));
    let g = gzip(b"hello world");
    assert!(err(inflate_gzip(&g[..g.len() - 4], MAX_BODY)).starts_with("gzip body: "));
    let mut trailing = g.clone();
    trailing.extend_from_slice(b"junk");
    assert!(err(inflate_gzip(&trailing, MAX_BODY)).starts_with("gzip body: "));
}

// ---------------------------------------------------------------------------------
// PublicKey.
// ---------------------------------------------------------------------------------

#[test]
fn opentdf_public_key_round_trips() {
    let req = PublicKeyRequest {
        algorithm: "hpqt:secp384r1-mlkem1024".into(),
        fmt: "pkcs8".into(),
        v: "2".into(),
    };
    for codec in [Codec::Json, Codec::Proto] {
        let bytes = encode_public_key_request(codec, &req);
        assert_eq!(decode_public_key_request(codec, &bytes).unwrap(), req);
    }
    // Binary by hand: 0a 0b "ec:secp384r1" is 12 bytes, so 0a 0c.
    let mut b = vec![0x0a, 12];
    b.extend_from_slice(b"ec:secp384r1");
    assert_eq!(
        encode_public_key_request(
            Codec::Proto,
            &PublicKeyRequest {
                algorithm: "ec:secp384r1".into(),
                ..Default::default()
            }
        ),
        b
    );
    // protojson: proto names, null, unknown keys, an empty body, `{}`.
    let r = decode_public_key_request(
        Codec::Json,
        br#"{"algorithm":"rsa:2048","fmt":null,"v":"1","extra":{"x":[1]}}"#,
    )
    .unwrap();
    assert_eq!(
        (r.algorithm.as_str(), r.fmt.as_str(), r.v.as_str()),
        ("rsa:2048", "", "1")
    );
    for empty in [&b""[..], b"  ", b"{}"] {
        assert_eq!(
            decode_public_key_request(Codec::Json, empty).unwrap(),
            PublicKeyRequest::default()
        );
    }
    assert_eq!(
        decode_public_key_request(Codec::Proto, b"").unwrap(),
        PublicKeyRequest::default()
    );
    assert_eq!(
        err(decode_public_key_request(Codec::Json, br#"["rsa:2048"]"#)),
        "PublicKeyRequest (JSON): expected a JSON object"
    );
    assert!(err(decode_public_key_request(
        Codec::Json,
        br#"{"algorithm":5}"#
    ))
    .starts_with("PublicKeyRequest (JSON): invalid type: integer `5`, expected a string"));
    assert!(err(decode_public_key_request(
        Codec::Json,
        br#"{"algorithm":"a","#
    ))
    .starts_with("PublicKeyRequest (JSON): "));

    let resp = PublicKeyResponse {
        public_key: "-----BEGIN PUBLIC KEY-----\n...".into(),
        kid: String::new(),
    };
    assert_eq!(
        encode_public_key_response(Codec::Json, &resp),
        br#"{"publicKey":"-----BEGIN PUBLIC KEY-----\n..."}"#
    );
    let resp = PublicKeyResponse {
        kid: "ab".repeat(32),
        ..resp
    };
    let json = encode_public_key_response(Codec::Json, &resp);
    assert!(String::from_utf8_lossy(&json).contains(&format!(r#""kid":"{}""#, "ab".repeat(32))));
    for codec in [Codec::Json, Codec::Proto] {
        let bytes = encode_public_key_response(codec, &resp);
        assert_eq!(decode_public_key_response(codec, &bytes).unwrap(), resp);
    }
    assert_eq!(
        decode_public_key_response(Codec::Json, br#"{"public_key":"p","kid":"k"}"#).unwrap(),
        PublicKeyResponse {
            public_key: "p".into(),
            kid: "k".into()
        }
    );
}

// ---------------------------------------------------------------------------------
// Rewrap: the outer request.
// ---------------------------------------------------------------------------------

#[test]
fn opentdf_rewrap_request_json_and_binary() {
    let req = RewrapRequest {
        signed_request_token: "eyJh.eyJy.c2ln".into(),
    };
    for codec in [Codec::Json, Codec::Proto] {
        let bytes = encode_rewrap_request(codec, &req);
        assert_eq!(decode_rewrap_request(codec, &bytes).unwrap(), req);
    }
    assert_eq!(
        encode_rewrap_request(Codec::Json, &req),
        br#"{"signedRequestToken":"eyJh.eyJy.c2ln"}"#
    );
    assert_eq!(
        decode_rewrap_request(
            Codec::Json,
            br#"{"signed_request_token":"a.b.c","bearer":"x"}"#
        )
        .unwrap()
        .signed_request_token,
        "a.b.c"
    );
    assert_eq!(
        err(decode_rewrap_request(Codec::Json, b"{}")),
        "RewrapRequest: signedRequestToken (field 1) is empty"
    );
    assert_eq!(
        err(decode_rewrap_request(Codec::Proto, b"")),
        "RewrapRequest: signedRequestToken (field 1) is empty"
    );
    let big = vec![b' '; MAX_BODY + 1];
    assert_eq!(
        err(decode_rewrap_request(Codec::Json, &big)),
        "the request body is larger than 1048576 bytes"
    );
}

/// A binary `RewrapRequest` built by hand, with an unknown field of every wire type
/// around the token (as a newer client might send).
#[test]
fn opentdf_hand_built_binary_rewrap_request_skips_unknown_fields() {
    let bytes: Vec<u8> = [
        &[0x10, 0x96, 0x01][..],                     // field 2, varint 150
        &[0x19, 1, 2, 3, 4, 5, 6, 7, 8],             // field 3, 64-bit
        &[0x22, 0x03, b'x', b'y', b'z'],             // field 4, length-delimited
        &[0x2d, 9, 9, 9, 9],                         // field 5, 32-bit
        &[0x0a, 0x05, b'a', b'.', b'b', b'.', b'c'], // field 1, the token
        &[0xc0, 0x3e, 0x01],                         // field 1000, varint
        &[
            0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ], // 10-byte varint
    ]
    .concat();
    let r = decode_rewrap_request(Codec::Proto, &bytes).unwrap();
    assert_eq!(r.signed_request_token, "a.b.c");
    // Of a repeated scalar the last is kept.
    let again = [&bytes[..], &[0x0a, 0x01, b'z']].concat();
    assert_eq!(
        decode_rewrap_request(Codec::Proto, &again)
            .unwrap()
            .signed_request_token,
        "z"
    );
    // Unknown fields in a nested message too.
    // Fields 11 (64-bit), 12 (32-bit), 11 (varint): unknown to KeyAccess.
    let mut kao = vec![0x59, 0, 0, 0, 0, 0, 0, 0, 0, 0x65, 0, 0, 0, 0, 0x58, 0x07];
    kao.extend_from_slice(&[0x32, 0x02, b'k', b'1']); // kid "k1"
    kao.extend_from_slice(&[0x42, 0x02, 0xde, 0xad]); // wrapped_key
    let ka: KeyAccess = pb::decode(&kao).unwrap();
    assert_eq!(ka.kid, "k1");
    assert_eq!(ka.wrapped_key, [0xde, 0xad]);
}

#[test]
fn opentdf_malformed_binary_is_refused_with_where() {
    let token = [0x0a, 0x05, b'a', b'.', b'b', b'.', b'c'];
    // Truncated varint: the value of field 2 starts at byte 8.
    let t = [&token[..], &[0x10, 0x96]].concat();
    assert_eq!(proto_err(&t), "RewrapRequest: truncated varint at byte 8");
    // A truncated tag.
    assert_eq!(
        proto_err(&[0x80]),
        "RewrapRequest: truncated varint at byte 0"
    );
    // Overlong varints: eleven bytes, and a tenth byte above 1.
    let mut over = vec![0x10];
    over.extend_from_slice(&[0xff; 10]);
    over.push(0x01);
    assert_eq!(
        proto_err(&over),
        "RewrapRequest: varint longer than 64 bits at byte 1"
    );
    let mut over = vec![0x10];
    over.extend_from_slice(&[0x80; 9]);
    over.push(0x02);
    assert_eq!(
        proto_err(&over),
        "RewrapRequest: varint longer than 64 bits at byte 1"
    );
    // Lengths past the end, including one that does not fit in usize on 32 bits.
    assert_eq!(
        proto_err(&[0x0a, 0x10, b'a']),
        "RewrapRequest: field 1: length 16 runs past the end of the message (1 bytes left) at byte 0"
    );
    let huge = [
        0x22, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ];
    assert!(proto_err(&huge).contains("runs past the end"));
    // Strings must be UTF-8.
    assert_eq!(
        proto_err(&[0x0a, 0x02, 0xff, 0xfe]),
        "RewrapRequest field 1 (signed_request_token): not UTF-8 (at byte 0)"
    );
    // Known field, wrong wire type.
    assert_eq!(
        proto_err(&[0x08, 0x01]),
        "RewrapRequest field 1 (signed_request_token): wire type 0, expected 2 (length-delimited) (at byte 0)"
    );
    // Groups, invalid wire types, field numbers 0 and 2^29.
    assert_eq!(
        proto_err(&[0x1b]),
        "RewrapRequest: field 3: wire type 3 (group) is not supported at byte 0"
    );
    assert!(proto_err(&[0x1c]).contains("wire type 4 (group)"));
    assert_eq!(
        proto_err(&[0x0e]),
        "RewrapRequest: field 1: invalid wire type 6 at byte 0"
    );
    assert!(proto_err(&[0x0f]).contains("invalid wire type 7"));
    assert_eq!(
        proto_err(&[0x00, 0x00]),
        "RewrapRequest: field number 0 out of range at byte 0"
    );
    assert!(
        proto_err(&[0x80, 0x80, 0x80, 0x80, 0x10]).contains("field number 536870912 out of range")
    );
    // Truncated fixed-width values.
    assert_eq!(
        proto_err(&[0x19, 1, 2, 3]),
        "RewrapRequest: field 3: truncated 64-bit value: 8 bytes needed, 3 left at byte 1"
    );
    assert!(proto_err(&[0x2d, 1]).contains("truncated 32-bit value: 4 bytes needed, 1 left"));

    // Errors inside nested messages name the inner message and its absolute offset.
    let mut kao = vec![0x2a, 0x01, 0xc3]; // kas_url: a lone UTF-8 lead byte
    kao.splice(0..0, [0x32, 0x01, b'k']);
    let mut kao_ref = vec![0x12, kao.len() as u8];
    kao_ref.extend_from_slice(&kao);
    let mut policy_req = vec![0x0a, kao_ref.len() as u8];
    policy_req.extend_from_slice(&kao_ref);
    let mut unsigned = vec![0x12, policy_req.len() as u8];
    unsigned.extend_from_slice(&policy_req);
    assert_eq!(
        err(pb::decode::<UnsignedRewrapRequest>(&unsigned)),
        "KeyAccess field 5 (kas_url): not UTF-8 (at byte 9)"
    );
    let mut kao = vec![0x12, 0x03, 0x0a, 0x05, b'x'];
    kao.splice(0..0, [0x32, 0x00]);
    assert_eq!(
        err(pb::decode::<KeyAccess>(&kao)),
        "PolicyBinding: field 1: length 5 runs past the end of the message (1 bytes left) at byte 4"
    );
}

#[test]
fn opentdf_binary_nesting_is_bounded() {
    fn nested(levels: usize) -> Map<String, Value> {
        let mut v = json!({"leaf": true});
        for _ in 0..levels {
            v = json!({ "n": v });
        }
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }
    let ok = nested(8);
    let bytes = encode_wellknown(Codec::Proto, &ok);
    assert_eq!(decode_wellknown_response(Codec::Proto, &bytes).unwrap(), ok);
    let deep = encode_wellknown(Codec::Proto, &nested(40));
    let e = err(decode_wellknown_response(Codec::Proto, &deep));
    assert!(e.contains("messages nested deeper than 32"), "{e}");
    // And the same bound applies however a message nests (the limit itself is shared).
    assert_eq!(MAX_DEPTH, 32);
}

#[test]
fn opentdf_repeated_embedded_message_merges() {
    // KeyAccessObjectRef with its key access object sent twice: the halves merge.
    let bytes = [
        &[0x0a, 0x05][..],
        b"kao-0",
        &[0x12, 0x03, 0x32, 0x01, b'k'],
        &[0x12, 0x05, 0x1a, 0x03],
        b"kas",
    ]
    .concat();
    let r: KeyAccessObjectRef = pb::decode(&bytes).unwrap();
    assert_eq!(r.key_access_object_id, "kao-0");
    assert_eq!(r.key_access_object.kid, "k");
    assert_eq!(r.key_access_object.protocol, "kas");
}

// ---------------------------------------------------------------------------------
// Rewrap: the unsigned request inside the token.
// ---------------------------------------------------------------------------------

#[test]
fn opentdf_unsigned_rewrap_go_fixture() {
    let req = UnsignedRewrapRequest::parse(GO_FIXTURE).unwrap();
    assert!(matches!(
        client_key(&req.client_public_key).unwrap(),
        ClientKey::Rsa(_)
    ));
    assert_eq!(req.requests.len(), 1);
    let p = &req.requests[0];
    assert_eq!(p.algorithm, "rsa:2048");
    assert_eq!(p.policy.id, "policy");
    let policy: Value = serde_json::from_slice(&STANDARD.decode(&p.policy.body).unwrap()).unwrap();
    assert_eq!(
        policy["body"]["dataAttributes"][0]["attribute"],
        "https://usa.label.accord/attr/classification/value/confidential"
    );
    assert_eq!(p.key_access_objects.len(), 1);
    let k = &p.key_access_objects[0];
    assert_eq!(k.key_access_object_id, "kao-0");
    let ka = &k.key_access_object;
    assert_eq!(ka.key_type, "hybrid-wrapped");
    assert_eq!(ka.kas_url, "https://node.pak.example/kas");
    assert_eq!(ka.protocol, "kas");
    assert_eq!(ka.kid.len(), 64);
    assert_eq!(ka.split_id, "");
    assert_eq!(ka.wrapped_key.len(), 256);
    assert_eq!(ka.policy_binding.algorithm, "HS256");
    assert_eq!(ka.policy_binding.hash.len(), 88);
    assert!(ka.header.is_empty() && ka.encrypted_metadata.is_empty());
    // v1 and v2 both present: v2 is answered.
    assert_eq!(req.key_access.as_ref(), Some(ka));
    assert_eq!(req.policy_requests(), req.requests);

    // JSON round trip through serde, and binary round trip.
    let again: UnsignedRewrapRequest =
        serde_json::from_slice(&serde_json::to_vec(&req).unwrap()).unwrap();
    assert_eq!(again, req);
    let mut bin = Vec::new();
    req.encode(&mut bin);
    assert_eq!(pb::decode::<UnsignedRewrapRequest>(&bin).unwrap(), req);
}

#[test]
fn opentdf_unsigned_rewrap_otdf_python_fixture() {
    let req = UnsignedRewrapRequest::parse(PY_FIXTURE).unwrap();
    let ka = req.key_access.clone().unwrap();
    // `schemaVersion` ignored, `null`s read as empty.
    assert_eq!(ka.key_type, "wrapped");
    assert_eq!(ka.kid, "r1");
    assert_eq!(ka.encrypted_metadata, "");
    assert_eq!(ka.ephemeral_public_key, "");
    assert_eq!(ka.policy_binding.algorithm, "HS256");
    let reqs = req.policy_requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].key_access_objects[0].key_access_object, ka);
    assert_eq!(reqs[0].policy.body, req.policy);
}

#[test]
fn opentdf_unsigned_rewrap_v1_and_spellings() {
    // v1 only, proto field names, the binding as a bare string, URL-safe unpadded bytes.
    let body = json!({
        "client_public_key": EC_PEM,
        "key_access": {
            "key_type": "ec-wrapped", "kas_url": "https://kas", "split_id": "s1",
            "wrapped_key": "-_8", "header": "AQI=", "policyBinding": "aGFzaA==",
            "ephemeral_public_key": "pem", "encrypted_metadata": "m", "schemaVersion": "4.3.0"
        },
        "policy": "eyJ9", "algorithm": "ec:secp256r1", "unknown": [1, 2]
    })
    .to_string();
    let req = UnsignedRewrapRequest::parse(&body).unwrap();
    let ka = req.key_access.clone().unwrap();
    assert_eq!(ka.key_type, "ec-wrapped");
    assert_eq!(ka.kas_url, "https://kas");
    assert_eq!(ka.split_id, "s1");
    assert_eq!(ka.wrapped_key, [0xfb, 0xff]);
    assert_eq!(ka.header, [1, 2]);
    assert_eq!(
        ka.policy_binding,
        PolicyBinding {
            algorithm: String::new(),
            hash: "aGFzaA==".into()
        }
    );
    let reqs = req.policy_requests();
    assert_eq!(
        reqs,
        vec![PolicyRequest {
            key_access_objects: vec![KeyAccessObjectRef {
                key_access_object_id: "kao-0".into(),
                key_access_object: ka.clone(),
            }],
            policy: PolicyRef {
                id: "policy".into(),
                body: "eyJ9".into()
            },
            algorithm: "ec:secp256r1".into(),
        }]
    );
    // The binding object with its proto name; `null` binding and bytes.
    let b: KeyAccess = serde_json::from_str(
        r#"{"policy_binding":{"algorithm":"HS256","hash":"h","x":1},"wrappedKey":null}"#,
    )
    .unwrap();
    assert_eq!(b.policy_binding.algorithm, "HS256");
    assert_eq!(b.policy_binding.hash, "h");
    assert!(b.wrapped_key.is_empty());
    let b: KeyAccess = serde_json::from_str(r#"{"policyBinding":null}"#).unwrap();
    assert_eq!(b.policy_binding, PolicyBinding::default());
    // Standard alphabet, unpadded, with trailing bits as Go accepts.
    let b: KeyAccess = serde_json::from_str(r#"{"wrappedKey":"AQJ"}"#).unwrap();
    assert_eq!(b.wrapped_key, [1, 2]);
}

#[test]
fn opentdf_unsigned_rewrap_refusals() {
    assert_eq!(
        err(UnsignedRewrapRequest::parse(r#"{"clientPublicKey":"k"}"#)),
        "UnsignedRewrapRequest: no key access object (`requests` names none and there is no v1 `keyAccess`)"
    );
    assert!(err(UnsignedRewrapRequest::parse(
        r#"{"requests":[{"policy":{"id":"p"}}]}"#
    ))
    .contains("no key access object"));
    let kao = json!({"keyAccessObjectId": "k", "keyAccessObject": {}});
    let many = json!({"requests": [{"keyAccessObjects": vec![kao; MAX_KAOS + 1]}]}).to_string();
    assert_eq!(
        err(UnsignedRewrapRequest::parse(&many)),
        "UnsignedRewrapRequest: 1025 key access objects; at most 1024 are accepted"
    );
    let policies = json!({"requests": vec![json!({}); MAX_KAOS + 1]}).to_string();
    assert!(err(UnsignedRewrapRequest::parse(&policies)).contains("1025 policies"));
    let e = err(UnsignedRewrapRequest::parse(
        r#"{"keyAccess":{"wrappedKey":"not base64!"}}"#,
    ));
    assert!(
        e.starts_with("UnsignedRewrapRequest (JSON): not base64 (standard or URL-safe)"),
        "{e}"
    );
    assert!(e.contains("line 1 column"), "{e}");
    assert!(err(UnsignedRewrapRequest::parse(
        r#"{"keyAccess":{"policyBinding":5}}"#
    ))
    .contains("a policy binding: an object"));
    assert!(err(UnsignedRewrapRequest::parse("[]")).contains("expected a JSON object"));
    assert!(err(UnsignedRewrapRequest::parse(r#"{"requests":{}}"#)).contains("invalid type"));
}

// ---------------------------------------------------------------------------------
// Responses.
// ---------------------------------------------------------------------------------

fn sample_response() -> RewrapResponse {
    RewrapResponse {
        session_public_key: String::new(),
        responses: vec![PolicyRewrapResult {
            policy_id: "policy".into(),
            results: vec![
                KeyAccessRewrapResult {
                    key_access_object_id: "kao-0".into(),
                    status: "permit".into(),
                    outcome: Outcome::Wrapped(vec![1, 2, 3]),
                },
                KeyAccessRewrapResult {
                    key_access_object_id: "kao-1".into(),
                    status: "fail".into(),
                    outcome: Outcome::Error("denied".into()),
                },
            ],
        }],
    }
}

#[test]
fn opentdf_rewrap_response_encodings() {
    let resp = sample_response();
    assert_eq!(
        String::from_utf8(encode_rewrap_response(Codec::Json, &resp)).unwrap(),
        r#"{"sessionPublicKey":"","responses":[{"policyId":"policy","results":[{"keyAccessObjectId":"kao-0","status":"permit","kasWrappedKey":"AQID"},{"keyAccessObjectId":"kao-1","status":"fail","error":"denied"}]}]}"#
    );
    // Binary, by hand. The first result: 12 05 "kao-0" (7) 1a 06 "permit" (8)
    // 22 03 01 02 03 (5) = 20 bytes; the second: 12 05 "kao-1" (7) 1a 04 "fail" (6)
    // 2a 06 "denied" (8) = 21 bytes; the policy result: 0a 06 "policy" (8) 12 14 [20]
    // (22) 12 15 [21] (23) = 53 = 0x35 bytes, sent as field 5 (2a). The empty
    // session key (field 3) is left out.
    let expected = [
        &[0x2a, 0x35, 0x0a, 0x06][..],
        b"policy",
        &[0x12, 0x14, 0x12, 0x05],
        b"kao-0",
        &[0x1a, 0x06],
        b"permit",
        &[0x22, 0x03, 1, 2, 3],
        &[0x12, 0x15, 0x12, 0x05],
        b"kao-1",
        &[0x1a, 0x04],
        b"fail",
        &[0x2a, 0x06],
        b"denied",
    ]
    .concat();
    assert_eq!(encode_rewrap_response(Codec::Proto, &resp), expected);
    // A oneof member is written even when empty; a session key when set.
    let empty = RewrapResponse {
        session_public_key: "P".into(),
        responses: vec![PolicyRewrapResult {
            policy_id: String::new(),
            results: vec![KeyAccessRewrapResult {
                key_access_object_id: String::new(),
                status: String::new(),
                outcome: Outcome::Wrapped(Vec::new()),
            }],
        }],
    };
    assert_eq!(
        encode_rewrap_response(Codec::Proto, &empty),
        [0x1a, 0x01, b'P', 0x2a, 0x04, 0x12, 0x02, 0x22, 0x00]
    );
}

/// `{"a":1,"b":"x","c":true,"d":null,"e":[1,"y"],"f":{"g":2}}` as
/// `GetWellKnownConfigurationResponse`, worked out by hand.
///
/// A `Struct` is a repeated field 1 of map entries `{1: key, 2: Value}`; a `Value`
/// is a oneof: 1 null (varint 0), 2 number (double, wire type 1, little-endian),
/// 3 string, 4 bool (varint), 5 Struct, 6 ListValue (`{repeated Value values = 1}`).
/// Tags: field 1 length-delimited = 0x0a, field 2 = 0x12, number = 0x11, string =
/// 0x1a, bool = 0x20, null = 0x08, struct = 0x2a, list = 0x32. 1.0 is
/// 0x3ff0000000000000, 2.0 is 0x4000000000000000.
///
/// * "a": key `0a 01 61`, Value `11 00 00 00 00 00 00 f0 3f` (9 bytes) as `12 09 ..`:
///   entry 3 + 2 + 9 = 14 bytes, so `0a 0e ..` (16 bytes).
/// * "b": Value `1a 01 78` (3): entry 3 + 5 = 8, `0a 08 ..` (10).
/// * "c": Value `20 01` (2): entry 7, `0a 07 ..` (9).
/// * "d": Value `08 00` (2): entry 7, `0a 07 ..` (9).
/// * "e": ListValue `0a 09 <1.0>` (11) + `0a 03 1a 01 79` (5) = 16; Value `32 10 ..`
///   (18); entry 3 + 2 + 18 = 23, `0a 17 ..` (25).
/// * "f": inner entry "g" `0a 01 67 12 09 <2.0>` (14); Struct `0a 0e ..` (16);
///   Value `2a 10 ..` (18); entry 23, `0a 17 ..` (25).
///
/// The Struct is 16 + 10 + 9 + 9 + 25 + 25 = 94 = 0x5e bytes, sent as field 1:
/// `0a 5e ..`, 96 bytes in all.
#[test]
fn opentdf_wellknown_struct_bytes_by_hand() {
    let config = match json!({"a":1,"b":"x","c":true,"d":null,"e":[1,"y"],"f":{"g":2}}) {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    let one = [0x11, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f];
    let two = [0x11, 0, 0, 0, 0, 0, 0, 0, 0x40];
    let expected = [
        &[0x0a, 0x5e][..],
        &[0x0a, 0x0e, 0x0a, 0x01, b'a', 0x12, 0x09],
        &one,
        &[0x0a, 0x08, 0x0a, 0x01, b'b', 0x12, 0x03, 0x1a, 0x01, b'x'],
        &[0x0a, 0x07, 0x0a, 0x01, b'c', 0x12, 0x02, 0x20, 0x01],
        &[0x0a, 0x07, 0x0a, 0x01, b'd', 0x12, 0x02, 0x08, 0x00],
        &[
            0x0a, 0x17, 0x0a, 0x01, b'e', 0x12, 0x12, 0x32, 0x10, 0x0a, 0x09,
        ],
        &one,
        &[0x0a, 0x03, 0x1a, 0x01, b'y'],
        &[
            0x0a, 0x17, 0x0a, 0x01, b'f', 0x12, 0x12, 0x2a, 0x10, 0x0a, 0x0e,
        ],
        &[0x0a, 0x01, b'g', 0x12, 0x09],
        &two,
    ]
    .concat();
    assert_eq!(expected.len(), 96);
    let bytes = encode_wellknown(Codec::Proto, &config);
    assert_eq!(bytes, expected);
    assert_eq!(
        encode_wellknown(Codec::Json, &config),
        br#"{"configuration":{"a":1,"b":"x","c":true,"d":null,"e":[1,"y"],"f":{"g":2}}}"#
    );
    // Read back: numbers come back as doubles.
    let back = decode_wellknown_response(Codec::Proto, &bytes).unwrap();
    assert_eq!(
        Value::Object(back),
        json!({"a":1.0,"b":"x","c":true,"d":null,"e":[1.0,"y"],"f":{"g":2.0}})
    );
    let back = decode_wellknown_response(Codec::Json, &encode_wellknown(Codec::Json, &config));
    assert_eq!(back.unwrap(), config);
    // A non-finite double is refused.
    let nan = [
        &[0x0a, 0x10, 0x0a, 0x0e, 0x0a, 0x01, b'n', 0x12, 0x09, 0x11][..],
        &f64::NAN.to_le_bytes(),
    ]
    .concat();
    assert!(err(decode_wellknown_response(Codec::Proto, &nan)).contains("not a finite number"));
}

#[test]
fn opentdf_wellknown_request_is_tolerant() {
    for body in [&b""[..], b"{}", b" {\"x\": [1, {}]} "] {
        decode_wellknown_request(Codec::Json, body).unwrap();
    }
    decode_wellknown_request(Codec::Proto, b"").unwrap();
    decode_wellknown_request(Codec::Proto, &[0x0a, 0x01, b'x', 0x10, 0x01]).unwrap();
    assert!(decode_wellknown_request(Codec::Json, b"[1]").is_err());
    assert!(decode_wellknown_request(Codec::Json, b"{").is_err());
    assert!(err(decode_wellknown_request(Codec::Proto, &[0x0a, 0x09]))
        .starts_with("GetWellKnownConfigurationRequest: field 1: length 9 runs past"));
}

/// Every decoder on mangled inputs: never a panic, and what decodes re-encodes to
/// something that decodes to the same.
#[test]
fn opentdf_decoders_survive_mangled_input() {
    let mut seeds: Vec<Vec<u8>> = vec![
        encode_rewrap_request(
            Codec::Proto,
            &RewrapRequest {
                signed_request_token: "a.b.c".into(),
            },
        ),
        encode_wellknown(
            Codec::Proto,
            match &json!({"a":[1,{"b":null}],"c":"d"}) {
                Value::Object(m) => m,
                _ => unreachable!(),
            },
        ),
        GO_FIXTURE.as_bytes().to_vec(),
        PY_FIXTURE.as_bytes().to_vec(),
    ];
    let mut bin = Vec::new();
    UnsignedRewrapRequest::parse(GO_FIXTURE)
        .unwrap()
        .encode(&mut bin);
    seeds.push(bin);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for seed in &seeds {
        for _ in 0..300 {
            let mut b = seed.clone();
            for _ in 0..(next() % 4 + 1) {
                if b.is_empty() {
                    break;
                }
                let i = (next() as usize) % b.len();
                match next() % 3 {
                    0 => b[i] = next() as u8,
                    1 => b.truncate(i),
                    _ => b.insert(i, next() as u8),
                }
            }
            for codec in [Codec::Json, Codec::Proto] {
                if let Ok(r) = decode_rewrap_request(codec, &b) {
                    let again = encode_rewrap_request(codec, &r);
                    assert_eq!(decode_rewrap_request(codec, &again).unwrap(), r);
                }
                if let Ok(r) = decode_public_key_request(codec, &b) {
                    let again = encode_public_key_request(codec, &r);
                    assert_eq!(decode_public_key_request(codec, &again).unwrap(), r);
                }
                let _ = decode_wellknown_request(codec, &b);
                let _ = decode_wellknown_response(codec, &b);
            }
            if let Ok(r) = pb::decode::<UnsignedRewrapRequest>(&b) {
                let mut again = Vec::new();
                r.encode(&mut again);
                assert_eq!(pb::decode::<UnsignedRewrapRequest>(&again).unwrap(), r);
            }
            if let Ok(s) = std::str::from_utf8(&b) {
                if let Ok(r) = UnsignedRewrapRequest::parse(s) {
                    let _ = r.policy_requests();
                }
                let _ = SignedRequestToken::parse(s).map(|t| t.check_times(0));
                let _ = client_key(s);
            }
            let _ = inflate_gzip(&b, 4096);
        }
    }
}

// ---------------------------------------------------------------------------------
// The signed request token.
// ---------------------------------------------------------------------------------

const NOW: i64 = 1_750_000_000;

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

fn token(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let sig = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn claims() -> Value {
    json!({"requestBody": GO_FIXTURE, "iat": NOW, "exp": NOW + 60})
}

fn es_key(alg: &'static signature::EcdsaSigningAlgorithm, curve: Curve) -> (EcdsaKeyPair, Jwk) {
    let kp = EcdsaKeyPair::generate(alg).unwrap();
    let jwk = Jwk::ec(curve, kp.public_key().as_ref()).unwrap();
    // The same key through its SPKI.
    let der: PublicKeyX509Der = kp.public_key().as_der().unwrap();
    assert_eq!(Jwk::from_spki_der(der.as_ref()).unwrap(), jwk);
    (kp, jwk)
}

fn rsa_key() -> (aws_lc_rs::rsa::KeyPair, Jwk) {
    let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der: PublicKeyX509Der = kp.public_key().as_der().unwrap();
    let jwk = Jwk::from_spki_der(der.as_ref()).unwrap();
    (kp, jwk)
}

fn rsa_sign<'a>(
    kp: &'a aws_lc_rs::rsa::KeyPair,
    pad: &'static dyn signature::RsaEncoding,
) -> impl Fn(&[u8]) -> Vec<u8> + 'a {
    move |m| {
        let mut sig = vec![0u8; kp.public_modulus_len()];
        kp.sign(pad, &SystemRandom::new(), m, &mut sig).unwrap();
        sig
    }
}

#[test]
fn opentdf_srt_parses() {
    let t = token(
        &json!({"alg":"ES256","typ":"JWT","kid":"k1"}),
        &json!({"requestBody":"{}","iat":NOW,"exp":NOW + 60,"nbf":NOW - 1,"sub":"x"}),
        |_| vec![1, 2, 3],
    );
    let srt = SignedRequestToken::parse(&t).unwrap();
    assert_eq!(srt.alg(), "ES256");
    assert_eq!(srt.typ(), Some("JWT"));
    assert_eq!(srt.kid(), Some("k1"));
    assert_eq!(srt.jwk().unwrap(), None);
    assert_eq!(srt.request_body(), "{}");
    assert_eq!(
        (srt.iat(), srt.exp(), srt.nbf()),
        (Some(NOW), Some(NOW + 60), Some(NOW - 1))
    );
    assert_eq!(srt.signature(), [1, 2, 3]);
    let dot = t.rfind('.').unwrap();
    assert_eq!(srt.signing_input(), &t.as_bytes()[..dot]);
    assert_eq!(srt.as_str(), t);
    srt.check_times(NOW).unwrap();

    // A fractional NumericDate is floored; a JWK header is read.
    let (_, jwk) = es_key(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, Curve::P256);
    let t = token(
        &json!({"alg":"ES256","jwk": Value::Object(jwk.to_json())}),
        &json!({"requestBody":"{}","exp":1.9e9 + 0.5}),
        |_| vec![],
    );
    let srt = SignedRequestToken::parse(&t).unwrap();
    assert_eq!(srt.exp(), Some(1_900_000_000));
    assert_eq!(srt.jwk().unwrap(), Some(jwk));
}

#[test]
fn opentdf_srt_refusals() {
    let body = json!({"requestBody": "{}", "exp": NOW});
    let parse = |h: Value, c: &Value| err(SignedRequestToken::parse(&token(&h, c, |_| vec![7])));
    assert_eq!(
        parse(json!({"alg":"none"}), &body),
        "signed request token: alg `none` is not accepted (only RS256, PS256, ES256, ES384)"
    );
    assert!(parse(json!({"alg":"HS256"}), &body).contains("alg `HS256` is not accepted"));
    assert!(parse(json!({"alg":"ES512"}), &body).contains("alg `ES512` is not accepted"));
    assert_eq!(
        parse(json!({"typ":"JWT"}), &body),
        "signed request token: header has no `alg`"
    );
    assert!(parse(json!({"alg":256}), &body).contains("`alg` must be a string"));
    assert!(parse(json!({"alg":"RS256","crit":["b64"]}), &body).contains("`crit`"));
    assert!(parse(json!({"alg":"RS256","kid":5}), &body).contains("header `kid` must be a string"));
    assert!(parse(json!({"alg":"RS256","jwk":"x"}), &body).contains("`jwk` must be an object"));
    assert_eq!(
        parse(json!({"alg":"RS256"}), &json!({"exp": NOW})),
        "signed request token: claim `requestBody` is missing"
    );
    assert!(parse(json!({"alg":"RS256"}), &json!({"requestBody": {}})).contains("must be a string"));
    assert!(parse(
        json!({"alg":"RS256"}),
        &json!({"requestBody": "", "exp": "soon"})
    )
    .contains("claim `exp` must be a number"));
    assert!(parse(
        json!({"alg":"RS256"}),
        &json!({"requestBody": "", "iat": 1e300})
    )
    .contains("claim `iat` must be a number"));

    let parse_raw = |t: &str| err(SignedRequestToken::parse(t));
    assert_eq!(
        parse_raw("a.b"),
        "signed request token: expected 3 dot-separated base64url parts (a compact JWS), found 2"
    );
    assert!(parse_raw("a.b.c.d").contains("found 4"));
    assert!(parse_raw("").contains("found 1"));
    assert_eq!(
        parse_raw("..x"),
        "signed request token: the header is empty"
    );
    assert!(parse_raw("e30=.e30.").contains("the header is not base64url"));
    assert_eq!(
        parse_raw("e30.e30."),
        "signed request token: header has no `alg`"
    );
    assert!(parse_raw("WzFd.e30.").contains("the header is not a JSON object"));
    assert!(parse_raw("eyI.e30.").contains("the header is not JSON"));
    assert!(parse_raw("eyJ.e30.").contains("the header is not base64url"));
    let big = "a".repeat(MAX_BODY + 1);
    assert_eq!(
        parse_raw(&big),
        "the signed request token is larger than 1048576 bytes"
    );
}

#[test]
fn opentdf_srt_times() {
    let at = |c: Value| {
        SignedRequestToken::parse(&token(&json!({"alg":"RS256"}), &c, |_| vec![]))
            .unwrap()
            .check_times(NOW)
    };
    let rb = "{}";
    at(json!({"requestBody": rb, "exp": NOW - 299})).unwrap();
    // web-sdk: issued an hour ago, valid for two hours.
    at(json!({"requestBody": rb, "iat": NOW - 3600, "exp": NOW + 3600})).unwrap();
    // otdf-python: two hours from now.
    at(json!({"requestBody": rb, "iat": NOW, "exp": NOW + 7200})).unwrap();
    assert_eq!(
        err(at(json!({"requestBody": rb}))),
        "signed request token: claim `exp` is missing"
    );
    let e = at(json!({"requestBody": rb, "exp": NOW - 301})).unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert_eq!(
        e.to_string(),
        format!(
            "signed request token: expired: `exp` {} is more than 300 s before now ({NOW})",
            NOW - 301
        )
    );
    assert_eq!(
        err(at(json!({"requestBody": rb, "iat": NOW + 301, "exp": NOW + 400}))),
        format!(
            "signed request token: issued in the future: `iat` {} is more than 300 s after now ({NOW})",
            NOW + 301
        )
    );
    at(json!({"requestBody": rb, "iat": NOW + 300, "exp": NOW + 400})).unwrap();
    assert!(err(at(
        json!({"requestBody": rb, "nbf": NOW + 301, "exp": NOW + 400})
    ))
    .contains("not valid yet: `nbf`"));
    assert_eq!(
        err(at(
            json!({"requestBody": rb, "iat": NOW - 100, "exp": NOW + 7401})
        )),
        "signed request token: lifetime `exp` − `iat` = 7501 s is longer than 7200 s (+300 s skew)"
    );
    // Extreme values do not overflow.
    at(json!({"requestBody": rb, "iat": i64::MIN, "exp": i64::MAX})).unwrap_err();
    let t = SignedRequestToken::parse(&token(
        &json!({"alg":"RS256"}),
        &json!({"requestBody": rb, "exp": i64::MIN}),
        |_| vec![],
    ))
    .unwrap();
    assert!(t.check_times(i64::MIN).is_ok());
    assert!(t.check_times(i64::MAX).is_err());
}

#[test]
fn opentdf_srt_verifies_es256_es384() {
    let rng = SystemRandom::new();
    for (alg, signing, curve) in [
        (
            "ES256",
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            Curve::P256,
        ),
        (
            "ES384",
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            Curve::P384,
        ),
    ] {
        let (kp, jwk) = es_key(signing, curve);
        let sign = |m: &[u8]| kp.sign(&rng, m).unwrap().as_ref().to_vec();
        let t = token(&json!({"alg": alg, "typ": "JWT"}), &claims(), sign);
        let srt = SignedRequestToken::parse(&t).unwrap();
        srt.verify(&jwk).unwrap();
        srt.check_times(NOW).unwrap();
        // The body inside parses as the Go fixture.
        UnsignedRewrapRequest::parse(srt.request_body()).unwrap();

        // Altered body: the signature no longer verifies.
        let mut c = claims();
        c["requestBody"] = Value::String(GO_FIXTURE.replace("kao-0", "kao-9"));
        let parts: Vec<&str> = t.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], b64(&c), parts[2]);
        let e = SignedRequestToken::parse(&forged)
            .unwrap()
            .verify(&jwk)
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated);
        assert_eq!(
            e.to_string(),
            format!(
                "signed request token: signature: {alg} signature does not verify with the key of thumbprint {}",
                jwk.thumbprint()
            )
        );
        // Another key of the same curve.
        let (_, other) = es_key(signing, curve);
        assert!(srt.verify(&other).is_err());
        // An RSA key.
        let (_, rsa) = rsa_key();
        assert!(err(srt.verify(&rsa)).contains(&format!("alg {alg} needs an EC")));
    }
    // ES256 with a P-384 key.
    let (kp, _) = es_key(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, Curve::P256);
    let (_, p384) = es_key(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, Curve::P384);
    let t = token(&json!({"alg":"ES256"}), &claims(), |m| {
        kp.sign(&rng, m).unwrap().as_ref().to_vec()
    });
    assert_eq!(
        err(SignedRequestToken::parse(&t).unwrap().verify(&p384)),
        "signed request token: signature: alg ES256 needs an EC P-256 key, and the key is EC P-384"
    );
}

#[test]
fn opentdf_srt_verifies_rs256_ps256() {
    let (kp, jwk) = rsa_key();
    assert_eq!(jwk.kty(), "RSA");
    for (alg, pad) in [
        (
            "RS256",
            &signature::RSA_PKCS1_SHA256 as &'static dyn signature::RsaEncoding,
        ),
        ("PS256", &signature::RSA_PSS_SHA256),
    ] {
        let t = token(&json!({"alg": alg}), &claims(), rsa_sign(&kp, pad));
        let srt = SignedRequestToken::parse(&t).unwrap();
        srt.verify(&jwk).unwrap();
        let mut c = claims();
        c["exp"] = json!(NOW + 61);
        let parts: Vec<&str> = t.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], b64(&c), parts[2]);
        assert!(SignedRequestToken::parse(&forged)
            .unwrap()
            .verify(&jwk)
            .is_err());
    }
    // RS256 signature presented as PS256.
    let t = token(
        &json!({"alg": "PS256"}),
        &claims(),
        rsa_sign(&kp, &signature::RSA_PKCS1_SHA256),
    );
    assert!(SignedRequestToken::parse(&t).unwrap().verify(&jwk).is_err());
    // An EC key for RS256.
    let (_, ec) = es_key(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, Curve::P256);
    let t = token(
        &json!({"alg": "RS256"}),
        &claims(),
        rsa_sign(&kp, &signature::RSA_PKCS1_SHA256),
    );
    assert_eq!(
        err(SignedRequestToken::parse(&t).unwrap().verify(&ec)),
        "signed request token: signature: alg RS256 needs an RSA key, and the key is EC P-256"
    );
}

#[test]
fn opentdf_jwk_thumbprint_rfc7638() {
    // RFC 7638 section 3.1.
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    let Value::Object(m) = jwk else {
        unreachable!()
    };
    let key = Jwk::from_json(&m).unwrap();
    assert_eq!(
        key.thumbprint(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    // Its public members round-trip, without `alg` and `kid`.
    let public = key.to_json();
    assert_eq!(public.len(), 3);
    assert_eq!(Jwk::from_json(&public).unwrap(), key);

    // An EC key's thumbprint is over crv, kty, x, y.
    let point = hex::decode(EC_POINT_HEX).unwrap();
    let ec = Jwk::ec(Curve::P256, &point).unwrap();
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(&point[1..33]),
        URL_SAFE_NO_PAD.encode(&point[33..])
    );
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    assert_eq!(ec.thumbprint(), URL_SAFE_NO_PAD.encode(digest.as_ref()));
}

#[test]
fn opentdf_jwk_refusals() {
    let jwk = |v: Value| {
        let Value::Object(m) = v else { unreachable!() };
        err(Jwk::from_json(&m))
    };
    let point = hex::decode(EC_POINT_HEX).unwrap();
    let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
    let y = URL_SAFE_NO_PAD.encode(&point[33..]);
    assert!(jwk(json!({"kty":"EC","crv":"P-256","x":x,"y":y,"d":"AA"})).contains("private key"));
    assert_eq!(
        jwk(json!({"kty":"EC","crv":"P-521","x":x,"y":y})),
        "JWK: curve `P-521` is not accepted (P-256 or P-384)"
    );
    assert_eq!(
        jwk(json!({"kty":"EC","crv":"P-384","x":x,"y":y})),
        "JWK: P-384 coordinates are 48 bytes each, not 32 and 32"
    );
    assert_eq!(
        jwk(json!({"kty":"EC","x":x,"y":y})),
        "JWK: `crv` is missing"
    );
    assert_eq!(
        jwk(json!({"kty":"EC","crv":"P-256","x":x})),
        "JWK: `y` is missing"
    );
    // A point off the curve.
    let mut bad = point[33..].to_vec();
    bad[31] ^= 1;
    assert_eq!(
        jwk(json!({"kty":"EC","crv":"P-256","x":x,"y":URL_SAFE_NO_PAD.encode(bad)})),
        "JWK: the point is not on P-256"
    );
    assert_eq!(
        jwk(json!({"kty":"OKP","crv":"Ed25519","x":x})),
        "JWK: key type `OKP` is not accepted (RSA or EC)"
    );
    assert_eq!(jwk(json!({"n":"AQAB","e":"AQAB"})), "JWK: `kty` is missing");
    assert_eq!(jwk(json!({"kty":1})), "JWK: `kty` must be a string");
    let n1024 = URL_SAFE_NO_PAD.encode([0xc5u8; 128]);
    assert_eq!(
        jwk(json!({"kty":"RSA","n":n1024,"e":"AQAB"})),
        "JWK: RSA modulus of 1024 bits; 2048 to 8192 are accepted"
    );
    assert!(jwk(json!({"kty":"RSA","n":"!!","e":"AQAB"})).starts_with("JWK: `n`: not base64"));
    let n2048 = URL_SAFE_NO_PAD.encode([0xc5u8; 256]);
    assert_eq!(
        jwk(json!({"kty":"RSA","n":n2048,"e":"AA"})),
        "JWK: RSA exponent is zero"
    );
    assert!(Jwk::ec(Curve::P256, &point[..64]).is_err());
    assert!(Jwk::ec(Curve::P521, &point).is_err());
}

#[test]
fn opentdf_client_keys() {
    // RSA-2048 from the Go fixture.
    let req = UnsignedRewrapRequest::parse(GO_FIXTURE).unwrap();
    let ClientKey::Rsa(der) = client_key(&req.client_public_key).unwrap() else {
        panic!("not RSA")
    };
    assert_eq!(Jwk::from_spki_der(&der).unwrap().kty(), "RSA");
    // EC, uncompressed and compressed: the same point.
    let point = hex::decode(EC_POINT_HEX).unwrap();
    let expected = ClientKey::Ec {
        curve: Curve::P256,
        point: point.clone(),
    };
    assert_eq!(client_key(EC_PEM).unwrap(), expected);
    assert_eq!(client_key(EC_COMPRESSED_PEM).unwrap(), expected);
    // P-384 and P-521 keys made here.
    for (alg, curve, len) in [
        (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, Curve::P384, 97),
        (
            &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
            Curve::P521,
            133,
        ),
    ] {
        let kp = EcdsaKeyPair::generate(alg).unwrap();
        let der: PublicKeyX509Der = kp.public_key().as_der().unwrap();
        let mut pem = String::new();
        accord_keys::pem::encode_into(&mut pem, "PUBLIC KEY", der.as_ref());
        let ClientKey::Ec { curve: c, point } = client_key(&pem).unwrap() else {
            panic!("not EC")
        };
        assert_eq!((c, point.len()), (curve, len));
        assert_eq!(point, kp.public_key().as_ref());
    }
    // Refused: RSA-1024, Ed25519, wrong label, two blocks, not PEM.
    assert_eq!(
        err(client_key(RSA1024_PEM)),
        "clientPublicKey: RSA modulus of 1024 bits; 2048 to 8192 are accepted"
    );
    assert_eq!(
        err(client_key(ED25519_PEM)),
        "clientPublicKey: key algorithm 1.3.101.112 is not accepted (RSA or EC: the return leg is RSA-OAEP or ECIES)"
    );
    let pkcs1 = EC_PEM.replace("PUBLIC KEY", "RSA PUBLIC KEY");
    assert!(err(client_key(&pkcs1)).contains("found `RSA PUBLIC KEY`"));
    assert_eq!(
        err(client_key(&format!("{EC_PEM}{EC_PEM}"))),
        "clientPublicKey: expected one PEM block, found 2"
    );
    assert!(err(client_key("hello")).starts_with("clientPublicKey: "));
    // A point off the curve.
    let mut der = STANDARD
        .decode(
            EC_PEM
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap();
    let last = der.len() - 1;
    der[last] ^= 1;
    let mut pem = String::new();
    accord_keys::pem::encode_into(&mut pem, "PUBLIC KEY", &der);
    assert_eq!(
        err(client_key(&pem)),
        "clientPublicKey: the point is not on P-256"
    );
}

/// A DPoP proof (RFC 9449) read as a plain JWS: its key in the header.
#[test]
fn opentdf_jws_dpop_proof() {
    let rng = SystemRandom::new();
    let (kp, jwk) = es_key(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, Curve::P256);
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": Value::Object(jwk.to_json())});
    let claims = json!({"htm": "POST", "htu": "https://node/kas.AccessService/Rewrap",
                        "iat": NOW, "jti": "j1"});
    let t = token(&header, &claims, |m| {
        kp.sign(&rng, m).unwrap().as_ref().to_vec()
    });
    let jws = Jws::parse(&t).unwrap();
    assert_eq!(jws.alg(), "ES256");
    assert_eq!(jws.header_str("typ"), Some("dpop+jwt"));
    assert_eq!(jws.header_str("jwk"), None);
    assert_eq!(jws.claims()["htm"], "POST");
    let key = Jwk::from_value(&jws.header()["jwk"]).unwrap();
    assert_eq!(key, jwk);
    jws.verify(&key).unwrap();
    assert_eq!(jws.as_str(), t);

    // A JWS needs no `requestBody`, but keeps the algorithm and `crit` rules.
    assert_eq!(
        err(Jws::parse(&token(
            &json!({"alg": "HS256"}),
            &claims,
            |_| vec![]
        ))),
        "JWS: alg `HS256` is not accepted (only RS256, PS256, ES256, ES384)"
    );
    assert!(err(Jws::parse("a.b")).starts_with("JWS: expected 3"));
    assert_eq!(
        err(Jws::parse(&"a".repeat(MAX_BODY + 1))),
        "the JWS is larger than 1048576 bytes"
    );
    let (_, other) = es_key(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, Curve::P256);
    let e = jws.verify(&other).unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e
        .to_string()
        .starts_with("JWS signature: ES256 signature does not verify"));
    assert_eq!(err(Jwk::from_value(&json!("x"))), "JWK: not a JSON object");
}

mod oidc_documents {
    use super::super::oidc::*;
    use super::super::Error;

    const ISSUER: &str = "https://sso.pak.example/realms/accord";

    #[test]
    fn a_discovery_document_must_be_its_issuers_and_https() {
        let doc = |issuer: &str, jwks: &str| {
            format!(
                r#"{{"issuer": "{issuer}", "jwks_uri": "{jwks}", "token_endpoint": "{ISSUER}/token"}}"#
            )
        };
        let m = ProviderMetadata::parse(doc(ISSUER, &format!("{ISSUER}/certs")).as_bytes(), ISSUER)
            .unwrap();
        assert_eq!(
            m.token_endpoint.as_deref(),
            Some(format!("{ISSUER}/token").as_str())
        );
        let e = ProviderMetadata::parse(
            doc("https://evil.example", "https://evil.example/c").as_bytes(),
            ISSUER,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("not https://sso.pak.example/realms/accord"),
            "{e}"
        );
        let e = ProviderMetadata::parse(
            doc(ISSUER, "http://sso.pak.example/certs").as_bytes(),
            ISSUER,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`jwks_uri` http://sso.pak.example/certs is not an https URL"),
            "{e}"
        );
        assert!(matches!(
            ProviderMetadata::parse(&vec![b' '; MAX_METADATA + 1], ISSUER),
            Err(Error::TooLarge { .. })
        ));
        assert_eq!(
            issuer_of(&format!("{ISSUER}/.well-known/openid-configuration")),
            ISSUER
        );
        assert_eq!(issuer_of(&format!("{ISSUER}/")), ISSUER);
    }

    #[test]
    fn a_key_set_keeps_the_signing_keys_it_can_verify_with() {
        let ec = r#"{"kty": "EC", "crv": "P-256", "kid": "ec", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        let set = format!(
            r#"{{"keys": [{ec}, {{"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "AA"}},
               {{"kty": "EC", "crv": "P-256", "use": "enc", "kid": "enc", "x": "AA", "y": "AA"}}]}}"#
        );
        let s = JwkSet::parse(set.as_bytes()).unwrap();
        assert_eq!((s.keys.len(), s.skipped), (1, 2));
        assert!(s.find(Some("ec"), "ES256").is_some());
        assert!(s.find(None, "ES256").is_some());
        assert!(s.find(Some("other"), "ES256").is_none());
        assert!(s.find(None, "RS256").is_none());
        // A set with nothing usable, or with a private key in it, is refused.
        let e = JwkSet::parse(br#"{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("none of its 1 keys"), "{e}");
        let private = ec.replace(r#""kid": "ec","#, r#""kid": "ec", "d": "AA","#);
        let e = JwkSet::parse(format!(r#"{{"keys": [{private}]}}"#).as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("private key"), "{e}");
    }

    #[test]
    fn an_access_token_is_not_a_dpop_proof() {
        use base64::Engine;
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let claims = b(
            r#"{"iss": "https://sso.pak.example/realms/accord", "aud": ["accord-kas", "account"]}"#,
        );
        let t = format!("{}.{claims}.AAAA", b(r#"{"alg": "RS256", "typ": "JWT"}"#));
        let jws = parse_access_token(&t).unwrap();
        assert_eq!(audiences(jws.claims()), ["accord-kas", "account"]);
        let t = format!(
            "{}.{claims}.AAAA",
            b(r#"{"alg": "ES256", "typ": "dpop+jwt"}"#)
        );
        assert!(parse_access_token(&t)
            .unwrap_err()
            .to_string()
            .contains("typ"));
        let t = format!("{}.{claims}.", b(r#"{"alg": "none"}"#));
        assert!(parse_access_token(&t)
            .unwrap_err()
            .to_string()
            .contains("not accepted"));
        let id = b(r#"{"iss": "https://sso.pak.example/realms/accord", "typ": "ID"}"#);
        let t = format!("{}.{id}.AAAA", b(r#"{"alg": "RS256", "typ": "JWT"}"#));
        assert!(parse_access_token(&t)
            .unwrap_err()
            .to_string()
            .contains("ID token"));
        let t = format!("{}.{}.AAAA", b(r#"{"alg": "RS256"}"#), b(r#"{"aud": "x"}"#));
        assert!(parse_access_token(&t)
            .unwrap_err()
            .to_string()
            .contains("`iss`"));
    }
}
