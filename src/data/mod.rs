//! Datasets: IDX (MNIST/Fashion-MNIST, and the Fashion-MNIST subset compiled into the binary),
//! image folders, CSV metadata with groups, WAV folders cut into fixed-length clips (and turned
//! into mel-feature datasets by `mel_clips`), class
//! filtering, seeded batching and augmentation.
//! Everything is held in memory (see `dataset.rs` for why) as one `Dataset` type that both the
//! classifier trainer and the GAN trainer read.

pub mod audio;
pub mod classes;
mod csv_metadata;
mod dataset;
mod embedded_subset;
mod embedded_voices;
pub mod griffin_lim;
pub mod idx;
mod idx_dataset;
mod image_folder;
mod images;
mod load_report;
pub mod mel;
pub mod mel_clips;
mod source;
pub mod substrates;
mod train_data;

pub use audio::{load_wav_folder, AudioClips, AudioOptions, LongFiles};
pub use classes::ClassSpace;
pub use csv_metadata::{load_csv, split_matches, CsvSpec};
pub use dataset::{Augment, Batch, Batches, Dataset};
pub use embedded_subset::{fashion_mnist_subset, fashion_mnist_subset_split};
pub use embedded_voices::{voices_subset, voices_subset_clips, VOICES_CLASSES};
pub use idx_dataset::{
    dataset_from_idx_bytes, is_idx_dir, load_idx_dir, system_fashion_mnist, Split,
    FASHION_MNIST_CLASSES, SYSTEM_FASHION_MNIST,
};
pub use image_folder::load_image_folder;
pub use images::{decode_image, image_file_to_generator_space};
pub use load_report::{LoadOptions, LoadReport, MAX_CLAMPED_FRACTION};
pub use mel_clips::{load_mel_folder, MelFeatures};
pub use source::DataSource;
pub use train_data::TrainData;
