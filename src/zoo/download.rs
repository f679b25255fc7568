//! Verified HTTP downloads: resume with `Range`, sha256 checked before the file becomes
//! visible, and errors that say what went wrong (HTTP status, timeout, size, hash, disk).

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Network behaviour of a download; tests shorten the timeouts.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    pub connect_timeout: Duration,
    /// Longest wait for the response headers or for any single read of the body: a stalled
    /// server fails after this, while a slow but moving download of any length continues.
    pub read_timeout: Duration,
    /// Draw an indicatif progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            connect_timeout: Duration::from_secs(20),
            read_timeout: Duration::from_secs(60),
            progress: true,
        }
    }
}

/// What the file must be.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub sha256: &'a str,
    pub size: Option<u64>,
}

/// The partial-download name next to `dest`; kept between runs so a retry resumes.
pub fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// Download `urls` (mirrors, tried in order) to `dest`. `dest` appears only after its size
/// and sha256 matched and the data was synced to disk.
pub fn download_verified(
    urls: &[String],
    expected: &Expected,
    dest: &Path,
    opts: &DownloadOptions,
) -> Result<()> {
    if urls.is_empty() {
        bail!("no download urls for {}", dest.display());
    }
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(opts.connect_timeout)
        .timeout(opts.read_timeout)
        .user_agent(concat!("probegan/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")?;
    let mut errors = Vec::new();
    for url in urls {
        match download_one(&client, url, expected, dest, opts) {
            Ok(()) => return Ok(()),
            Err(e) => {
                let msg = format!("{e:#}");
                errors.push(if msg.contains(url.as_str()) {
                    msg
                } else {
                    format!("{url}: {msg}")
                });
            }
        }
    }
    if errors.len() == 1 {
        bail!("download failed: {}", errors.remove(0));
    }
    bail!(
        "download failed from every mirror:\n  {}",
        errors.join("\n  ")
    )
}

fn download_one(
    client: &reqwest::blocking::Client,
    url: &str,
    expected: &Expected,
    dest: &Path,
    opts: &DownloadOptions,
) -> Result<()> {
    let part = partial_path(dest);
    let mut have = existing_len(&part);
    if let Some(size) = expected.size {
        if have > size {
            // Longer than the real file: it cannot be a prefix of it.
            remove_quietly(&part);
            have = 0;
        }
    }
    let complete_already = expected.size.is_some_and(|s| have == s && have > 0);
    if !complete_already {
        fetch_into(client, url, expected, &part, have, opts)?;
    }
    verify_and_publish(&part, expected, dest)
}

/// Bytes already on disk in the partial file (0 if none or not a regular file).
fn existing_len(part: &Path) -> u64 {
    std::fs::metadata(part)
        .map(|m| if m.is_file() { m.len() } else { 0 })
        .unwrap_or(0)
}

fn fetch_into(
    client: &reqwest::blocking::Client,
    url: &str,
    expected: &Expected,
    part: &Path,
    have: u64,
    opts: &DownloadOptions,
) -> Result<()> {
    let mut request = client.get(url);
    if have > 0 {
        request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let mut response = request.send().map_err(|e| describe_http(e, url))?;
    let status = response.status();
    if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE && have > 0 {
        // Our partial file does not fit the server's file; start over once.
        remove_quietly(part);
        return fetch_into(client, url, expected, part, 0, opts);
    }
    if !status.is_success() {
        bail!("HTTP {status} from {url}");
    }
    let resuming = have > 0 && status == reqwest::StatusCode::PARTIAL_CONTENT;
    if resuming {
        check_content_range(&response, have)?;
    }
    let start = if resuming { have } else { 0 };
    let total = response.content_length().map(|n| start + n);
    if let (Some(total), Some(size)) = (total, expected.size) {
        if total != size {
            bail!("wrong size: the server sends {total} bytes but the registry says {size}");
        }
    }
    let mut file = open_partial(part, resuming)?;
    let bar = progress_bar(opts, total.or(expected.size), start, url);
    let mut written = start;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match response.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                bar.abandon();
                let _ = file.sync_all();
                return Err(describe_body_error(e, url, written, total));
            }
        };
        file.write_all(&buf[..n]).map_err(|e| {
            bar.abandon();
            describe_io(e, part, "writing")
        })?;
        written += n as u64;
        bar.set_position(written);
    }
    bar.finish_and_clear();
    file.sync_all()
        .map_err(|e| describe_io(e, part, "syncing"))?;
    if let Some(total) = total {
        if written < total {
            bail!(
                "truncated download from {url}: got {written} of {total} bytes; the partial file \
                 is kept, run the command again to resume"
            );
        }
    }
    Ok(())
}

fn check_content_range(response: &reqwest::blocking::Response, have: u64) -> Result<()> {
    let header = response
        .headers()
        .get(reqwest::header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| anyhow!("server answered 206 without a Content-Range header"))?;
    // "bytes START-END/TOTAL"
    let start = header
        .strip_prefix("bytes ")
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .ok_or_else(|| anyhow!("unreadable Content-Range `{header}`"))?;
    if start != have {
        bail!("server resumed at byte {start}, we asked for {have} (Content-Range `{header}`)");
    }
    Ok(())
}

fn open_partial(part: &Path, append: bool) -> Result<File> {
    if let Some(dir) = part.parent() {
        std::fs::create_dir_all(dir).map_err(|e| describe_io(e, dir, "creating"))?;
    }
    let mut options = OpenOptions::new();
    options.create(true).write(true);
    if append {
        options.append(true);
    } else {
        options.truncate(true);
    }
    options
        .open(part)
        .map_err(|e| describe_io(e, part, "opening"))
}

/// Check size and hash of the finished partial file, then rename it into place. A wrong
/// file is deleted so the next attempt starts clean.
fn verify_and_publish(part: &Path, expected: &Expected, dest: &Path) -> Result<()> {
    let len = existing_len(part);
    if let Some(size) = expected.size {
        if len != size {
            if len > size {
                remove_quietly(part);
            }
            bail!("wrong size: downloaded {len} bytes but the registry says {size}");
        }
    }
    let actual = sha256_file(part)?;
    if actual != expected.sha256 {
        remove_quietly(part);
        bail!(
            "sha256 mismatch: expected {}, got {actual} ({len} bytes); the download was discarded",
            expected.sha256
        );
    }
    // Sync once more: the data may come from an earlier run that was killed before syncing.
    File::open(part)
        .and_then(|f| f.sync_all())
        .map_err(|e| describe_io(e, part, "syncing"))?;
    super::atomic::publish(part, dest)
}

/// Lower-case hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| describe_io(e, path, "opening"))?;
    f.seek(SeekFrom::Start(0)).ok();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| describe_io(e, path, "reading"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn remove_quietly(path: &Path) {
    let _ = std::fs::remove_file(path);
}

fn progress_bar(
    opts: &DownloadOptions,
    total: Option<u64>,
    start: u64,
    url: &str,
) -> indicatif::ProgressBar {
    if !opts.progress {
        return indicatif::ProgressBar::hidden();
    }
    let bar = match total {
        Some(t) => indicatif::ProgressBar::new(t),
        None => indicatif::ProgressBar::new_spinner(),
    };
    let style = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    let file = url.rsplit('/').next().unwrap_or(url).to_string();
    bar.set_message(file);
    bar.set_position(start);
    bar
}

/// True when the OS reports a full disk or exhausted quota.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    // 28 = ENOSPC, 122 = EDQUOT on Linux; 112 = ERROR_DISK_FULL on Windows.
    e.kind() == ErrorKind::StorageFull
        || e.kind() == ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(28) | Some(122)) && cfg!(unix)
        || matches!(e.raw_os_error(), Some(112)) && cfg!(windows)
}

/// An I/O error with its file named; a full disk gets a message that says so.
pub fn describe_io(e: std::io::Error, path: &Path, doing: &str) -> anyhow::Error {
    if is_disk_full(&e) {
        anyhow!(
            "disk full while {doing} {}: free some space or point PROBEGAN_CACHE_DIR at a \
             bigger disk ({e})",
            path.display()
        )
    } else {
        anyhow!("{doing} {}: {e}", path.display())
    }
}

fn describe_http(e: reqwest::Error, url: &str) -> anyhow::Error {
    if e.is_timeout() {
        anyhow!("timed out waiting for {url} (no answer within the read timeout)")
    } else if e.is_connect() {
        anyhow!("cannot connect to {url}: {}", error_chain(&e))
    } else {
        anyhow!("request to {url} failed: {}", error_chain(&e))
    }
}

fn describe_body_error(
    e: std::io::Error,
    url: &str,
    written: u64,
    total: Option<u64>,
) -> anyhow::Error {
    let got = match total {
        Some(t) => format!("{written} of {t} bytes"),
        None => format!("{written} bytes"),
    };
    let timed_out = e.kind() == ErrorKind::TimedOut
        || error_chain(&e).to_ascii_lowercase().contains("timed out");
    let what = if timed_out {
        "timed out (server stalled)"
    } else {
        "interrupted (truncated response)"
    };
    anyhow!(
        "download from {url} {what} after {got}: {}; the partial file is kept, run the \
         command again to resume",
        error_chain(&e)
    )
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_is_reported_as_disk_full() {
        let e = std::io::Error::from_raw_os_error(28);
        let msg = describe_io(e, Path::new("/x/y.part"), "writing").to_string();
        #[cfg(unix)]
        assert!(
            msg.contains("disk full") && msg.contains("/x/y.part"),
            "{msg}"
        );
        let _ = msg;
    }
}
