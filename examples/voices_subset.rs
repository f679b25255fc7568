//! Cut the bundled audio set (`data/voices-subset/`, compiled into the binary) from a WAV
//! folder written by `scripts/audio_data.sh`:
//!
//!   cargo run --release --example voices_subset -- .cache/audio-voices data/voices-subset 40 10
//!
//! Per split and class it keeps TRAIN (or TEST) clips of the voices front end (1.008 s at
//! 16 kHz), spread over as many source files (speakers, sounds) as possible, and writes them
//! back to back as `OUT/<split>/<class>.wav`. Only synthetic sources are taken (espeak-ng
//! voices, sox synthesis): files named `fillets_*` or `tuxpaint_*` are real recordings under
//! their packages' licences and stay out of the repository.

use anyhow::{bail, Context, Result};
use probegan::data::audio::write_wav_mono;
use probegan::data::{load_wav_folder, MelFeatures, Split, VOICES_CLASSES};
use std::path::PathBuf;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 4 {
        bail!("usage: voices_subset SRC_WAV_FOLDER OUT TRAIN_PER_CLASS TEST_PER_CLASS");
    }
    let (src, out) = (PathBuf::from(&args[0]), PathBuf::from(&args[1]));
    let per_class = [
        (
            Split::Train,
            args[2].parse::<usize>().context("TRAIN_PER_CLASS")?,
        ),
        (
            Split::Test,
            args[3].parse::<usize>().context("TEST_PER_CLASS")?,
        ),
    ];
    let features = MelFeatures::voices();
    for (split, want) in per_class {
        let (clips, _) = load_wav_folder(&src, Some(split), &features.audio_options(false))?;
        if clips.class_names != VOICES_CLASSES {
            bail!(
                "{}: expected classes {VOICES_CLASSES:?}, found {:?}",
                src.display(),
                clips.class_names
            );
        }
        for (label, class) in VOICES_CLASSES.iter().enumerate() {
            // Clips of synthetic files, grouped by file in file order.
            let mut by_file: Vec<Vec<usize>> = vec![];
            let mut last_file = None;
            for i in 0..clips.len() {
                let file = clips.file_of_clip[i];
                let name = clips.files[file as usize]
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let real = name.starts_with("fillets_") || name.starts_with("tuxpaint_");
                if clips.labels[i] != label as u32 || real {
                    continue;
                }
                if last_file != Some(file) {
                    by_file.push(vec![]);
                    last_file = Some(file);
                }
                by_file.last_mut().unwrap().push(i);
            }
            // Round-robin: the k-th clip of evenly spaced files, so every speaker or sound
            // kind is represented before any gives a second clip.
            let mut chosen = vec![];
            let mut round = 0;
            while chosen.len() < want && by_file.iter().any(|f| f.len() > round) {
                let files: Vec<&Vec<usize>> = by_file.iter().filter(|f| f.len() > round).collect();
                let take = (want - chosen.len()).min(files.len());
                for k in 0..take {
                    chosen.push(files[k * files.len() / take][round]);
                }
                round += 1;
            }
            if chosen.len() < want {
                bail!(
                    "{} {class}: only {} synthetic clips, {want} wanted",
                    split.name(),
                    chosen.len()
                );
            }
            let samples: Vec<f32> = chosen
                .iter()
                .flat_map(|&i| clips.clip(i).iter().copied())
                .collect();
            let path = out.join(split.name()).join(format!("{class}.wav"));
            std::fs::create_dir_all(path.parent().unwrap())?;
            write_wav_mono(&path, &samples, clips.sample_rate)?;
            println!(
                "{}: {} clips from {} files",
                path.display(),
                chosen.len(),
                by_file.len()
            );
        }
    }
    Ok(())
}
