//! `probegan zoo ...` end to end through the binary, with the cache and config directories
//! pointed at a temp dir and a local HTTP server standing in for the internet.

use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

/// Serve `data` at every path, 200 OK, for `count` connections.
fn serve(data: Vec<u8>, count: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count).flatten() {
            let mut stream = stream;
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                if line == "\r\n" {
                    break;
                }
                line.clear();
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                data.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&data);
        }
    });
    base
}

fn probegan(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_probegan"))
        .args(args)
        .env("PROBEGAN_CACHE_DIR", dir.join("cache"))
        .env("PROBEGAN_CONFIG_DIR", dir.join("config"))
        .env_remove("PROBEGAN_OFFLINE")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn list_json_shows_builtin_models_not_cached() {
    let tmp = tempfile::tempdir().unwrap();
    let out = probegan(tmp.path(), &["zoo", "list", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = v.as_array().unwrap();
    let vgg = items
        .iter()
        .find(|i| i["name"] == "vgg16")
        .expect("vgg16 listed");
    assert_eq!(vgg["size"], 553437328u64);
    assert_eq!(vgg["cached"], false);
    assert_eq!(vgg["origin"], "builtin");
    let table = probegan(tmp.path(), &["zoo", "list"]);
    assert!(text(&table.stdout).contains("resnet50-v2"));
}

#[test]
fn add_fetch_path_and_offline_through_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sha = hex::encode(Sha256::digest(&data));
    let base = serve(data.clone(), 4);
    let adapter = tmp.path().join("mine.toml");
    std::fs::write(
        &adapter,
        "[input]\nsize = [28, 28]\nchannels = 1\n[classes]\nnames = [\"a\", \"b\"]\n",
    )
    .unwrap();
    let url = format!("{base}/mine.onnx");
    let size = data.len().to_string();

    // Offline and not cached: refused with a clear message, before anything is added.
    let out = probegan(tmp.path(), &["zoo", "fetch", "squeezenet1.1", "--offline"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("offline"),
        "{}",
        text(&out.stderr)
    );

    let add = [
        "zoo",
        "add",
        "mine",
        "--url",
        &url,
        "--sha256",
        &sha,
        "--adapter",
        adapter.to_str().unwrap(),
        "--size",
        &size,
    ];
    let out = probegan(tmp.path(), &add);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = probegan(tmp.path(), &add);
    assert!(
        !again.status.success(),
        "adding the same name twice succeeded"
    );

    let out = probegan(tmp.path(), &["zoo", "path", "mine"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("not cached"),
        "{}",
        text(&out.stderr)
    );

    let out = probegan(tmp.path(), &["zoo", "fetch", "mine"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let fetched = text(&out.stdout).trim().to_string();
    assert_eq!(std::fs::read(&fetched).unwrap(), data);

    let out = probegan(tmp.path(), &["zoo", "path", "mine"]);
    assert_eq!(text(&out.stdout).trim(), fetched);
    let out = probegan(tmp.path(), &["zoo", "path", "mine", "--adapter"]);
    assert_eq!(
        Path::new(text(&out.stdout).trim()),
        adapter.canonicalize().unwrap()
    );

    // --dir puts the model (and nothing else) under DIR/NAME/.
    let elsewhere = tmp.path().join("elsewhere");
    let out = probegan(
        tmp.path(),
        &["zoo", "fetch", "mine", "--dir", elsewhere.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        Path::new(text(&out.stdout).trim()),
        elsewhere.join("mine").join("mine.onnx")
    );
    assert_eq!(
        std::fs::read(elsewhere.join("mine/mine.onnx")).unwrap(),
        data
    );

    // --offline re-verifies the cached file without the network.
    let out = probegan(tmp.path(), &["zoo", "fetch", "mine", "--offline"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let bad = probegan(
        tmp.path(),
        &[
            "zoo",
            "add",
            "../escape",
            "--url",
            &url,
            "--sha256",
            &sha,
            "--adapter",
            adapter.to_str().unwrap(),
        ],
    );
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("../escape"),
        "{}",
        text(&bad.stderr)
    );
}
