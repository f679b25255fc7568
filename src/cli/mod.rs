//! The command line: clap definitions; each command is a thin call into the library and
//! lives in its own file.

use clap::{Parser, Subcommand};

pub mod adapter_guess;
pub mod audit;
pub mod bench;
pub mod check;
pub mod classify;
pub mod demo;
mod demo_audio;
pub mod eval;
pub mod inspect;
pub mod report;
pub mod sample;
pub mod train;
pub mod train_classifier;
pub mod zoo;

#[derive(Parser, Debug)]
#[command(
    name = "probegan",
    version,
    about = "Audit image and audio classifiers by generating what they learned",
    long_about = "probegan takes a frozen classifier exported as ONNX (a black box) plus whatever \
data you have, trains generators against it, and shows as pictures, sounds and numbers which \
training-distribution features leak out of it, including whole classes you have no data for.\n\n\
Start with `probegan demo` (no arguments, a few minutes on CPU)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The one-command audit: pre-flight check, training, evaluation and the HTML report in
    /// one resumable run directory.
    Audit(audit::Args),
    /// Summarise an ONNX model: producer, opset, inputs/outputs, ops, parameters, support.
    Inspect(inspect::Args),
    /// Pre-flight a model before training: forward vs tract, gradients vs finite differences.
    Check(check::Args),
    /// Classify images with an ONNX model and an adapter; prints the top-k classes.
    Classify(classify::Args),
    /// Train a classifier (regular, PGD-robust or group-DRO) and export it as ONNX.
    TrainClassifier(train_classifier::Args),
    /// Train a generator against a frozen classifier (ProbeGAN and baselines) from a config.
    Train(train::Args),
    /// Draw samples of a class from a trained generator checkpoint.
    Sample(sample::Args),
    /// The embedded default: bundled data and classifier, one class unseen, a few CPU minutes.
    Demo(demo::Args),
    /// Score a run or checkpoint: judge accuracy, FID/KID, diversity, spectrum.
    Eval(eval::Args),
    /// Write one self-contained HTML audit report for a run.
    Report(report::Args),
    /// List, fetch and verify pretrained ONNX classifiers.
    #[command(subcommand)]
    Zoo(zoo::ZooCommand),
    /// Time one batch of a model, forward and forward+backward, beside tract and onnxruntime.
    Bench(bench::Args),
    /// Write an adapter guessed from a model (`adapter init MODEL > my.toml`).
    #[command(subcommand)]
    Adapter(adapter_guess::AdapterCommand),
}

/// Parse the command line, run it, and map errors to a message and exit code 1.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Audit(a) => audit::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Check(a) => check::run(a),
        Command::Classify(a) => classify::run(a),
        Command::TrainClassifier(a) => train_classifier::run(a),
        Command::Train(a) => train::run(a),
        Command::Sample(a) => sample::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Report(a) => report::run(a),
        Command::Zoo(c) => zoo::run(c),
        Command::Adapter(c) => adapter_guess::run(c),
        Command::Bench(a) => bench::run(a),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}
