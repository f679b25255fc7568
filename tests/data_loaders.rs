//! Data loading: IDX, the embedded subset, image folders, CSV metadata (Waterbirds layout),
//! bad input with and without --skip-bad, class selection, seeded batching.

use candle_core::Device;
use probegan::data::{
    idx::encode_idx, load_csv, load_idx_dir, load_image_folder, Augment, CsvSpec, DataSource,
    Dataset, LoadOptions, Split,
};
use std::io::Write;
use std::path::Path;

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn idx_folder_gz_and_plain_with_classes_txt() {
    let dir = tempfile::tempdir().unwrap();
    let imgs: Vec<u8> = (0..3 * 4).map(|v| (v * 20) as u8).collect();
    std::fs::write(
        dir.path().join("train-images-idx3-ubyte.gz"),
        gz(&encode_idx(&[3, 2, 2], &imgs)),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        encode_idx(&[3], &[0, 1, 1]),
    )
    .unwrap();
    std::fs::write(dir.path().join("classes.txt"), "zero\none\n").unwrap();
    let d = load_idx_dir(dir.path(), Split::Train).unwrap();
    assert_eq!((d.len(), d.image_shape()), (3, (1, 2, 2)));
    assert_eq!(d.class_names, ["zero", "one"]);
    assert_eq!(d.image(0)[0], -1.0);
    assert!((d.image(2)[3] - (220.0 / 127.5 - 1.0)).abs() < 1e-6);
    // Test split missing: the error names the folder and the files it wanted.
    let e = load_idx_dir(dir.path(), Split::Test)
        .unwrap_err()
        .to_string();
    assert!(e.contains("t10k-images-idx3-ubyte"), "{e}");
    // A label beyond the class list names the file and the row.
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        encode_idx(&[3], &[0, 1, 7]),
    )
    .unwrap();
    let e = load_idx_dir(dir.path(), Split::Train)
        .unwrap_err()
        .to_string();
    assert!(e.contains("row 2") && e.contains("label 7"), "{e}");
    // Wrong magic.
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        b"PK\x03\x04garbage",
    )
    .unwrap();
    let e = load_idx_dir(dir.path(), Split::Train)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("train-labels-idx1-ubyte") && e.contains("magic"),
        "{e}"
    );
}

#[test]
fn embedded_subset_is_stratified_and_in_range() {
    let d = probegan::embedded::fashion_mnist_subset().unwrap();
    assert_eq!(d.len(), 10_000);
    assert_eq!(d.class_counts(), vec![1000; 10]);
    assert_eq!(d.image_shape(), (1, 28, 28));
    assert!(d.images.iter().all(|&v| (-1.0..=1.0).contains(&v)));
    let t = probegan::embedded::fashion_mnist_subset_split(Split::Test).unwrap();
    assert_eq!(t.class_counts(), vec![300; 10]);
    assert_eq!(d.class_names[9], "Ankle boot");
}

#[test]
fn system_fashion_mnist_when_installed() {
    if !Path::new(probegan::data::SYSTEM_FASHION_MNIST).is_dir() {
        eprintln!(
            "skipped: {} not installed",
            probegan::data::SYSTEM_FASHION_MNIST
        );
        return;
    }
    let (t, _) = DataSource::parse("fashion-mnist", CsvSpec::default())
        .unwrap()
        .load(Split::Test, &LoadOptions::default())
        .unwrap();
    assert_eq!(t.len(), 10_000);
    assert_eq!(t.class_counts(), vec![1000; 10]);
}

fn png(path: &Path, v: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_pixel(4, 4, image::Luma([v]))
        .save(path)
        .unwrap();
}

#[test]
fn image_folder_with_bad_files_and_skip_bad() {
    let dir = tempfile::tempdir().unwrap();
    png(&dir.path().join("cat/a.png"), 0);
    png(&dir.path().join("cat/b.png"), 255);
    png(&dir.path().join("dog/c.png"), 128);
    std::fs::write(dir.path().join("dog/broken.png"), b"\x89PNG truncated").unwrap();
    let opts = LoadOptions {
        channels: Some(1),
        ..Default::default()
    };
    let e = format!(
        "{:#}",
        load_image_folder(dir.path(), None, &opts).unwrap_err()
    );
    assert!(e.contains("broken.png") && e.contains("--skip-bad"), "{e}");
    let (d, r) = load_image_folder(
        dir.path(),
        None,
        &LoadOptions {
            skip_bad: true,
            mel: None,
            ..opts.clone()
        },
    )
    .unwrap();
    assert_eq!((d.len(), r.skipped, r.loaded), (3, 1, 3));
    assert!(r.problems[0].contains("broken.png"));
    assert_eq!(d.class_names, ["cat", "dog"]);
    assert_eq!(d.labels, [0, 0, 1]);
    // Resizing to a common size and RGB.
    let (d, _) = load_image_folder(
        dir.path(),
        None,
        &LoadOptions {
            size: Some((2, 3)),
            channels: Some(3),
            skip_bad: true,
            mel: None,
        },
    )
    .unwrap();
    assert_eq!(d.image_shape(), (3, 2, 3));
    assert!(matches!(
        DataSource::parse(dir.path().to_str().unwrap(), CsvSpec::default()).unwrap(),
        DataSource::ImageFolder(_)
    ));
}

/// Waterbirds' metadata.csv columns, verbatim.
fn waterbirds(dir: &Path, extra_rows: &str) -> std::path::PathBuf {
    let mut csv = String::from("img_id,img_filename,y,split,place,place_filename\n");
    let rows = [
        (1, "001.Land/a.png", 0, 0, 0),
        (2, "001.Land/b.png", 0, 0, 1),
        (3, "002.Water/c.png", 1, 0, 1),
        (4, "002.Water/d.png", 1, 2, 0),
        (5, "001.Land/e.png", 0, 2, 0),
    ];
    for (id, f, y, s, p) in rows {
        png(&dir.join(f), (id * 40) as u8);
        csv.push_str(&format!("{id},{f},{y},{s},{p},/x/y.jpg\n"));
    }
    csv.push_str(extra_rows);
    let path = dir.join("metadata.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

#[test]
fn waterbirds_metadata_with_groups_and_splits() {
    let dir = tempfile::tempdir().unwrap();
    let path = waterbirds(dir.path(), "");
    let spec = CsvSpec {
        group_col: Some("place".into()),
        class_names: Some(vec!["landbird".into(), "waterbird".into()]),
        ..Default::default()
    };
    let opts = LoadOptions {
        channels: Some(3),
        ..Default::default()
    };
    let (train, _) = load_csv(&path, &spec, Some("train"), &opts).unwrap();
    assert_eq!(train.len(), 3);
    assert_eq!(train.labels, [0, 0, 1]);
    assert_eq!(
        train.group_names,
        [
            "landbird/place=0",
            "landbird/place=1",
            "waterbird/place=0",
            "waterbird/place=1"
        ]
    );
    assert_eq!(train.groups.as_ref().unwrap(), &[0, 1, 3]);
    let src = DataSource::parse(path.to_str().unwrap(), spec.clone()).unwrap();
    let (test, _) = src.load(Split::Test, &opts).unwrap();
    assert_eq!(test.len(), 2);
    assert_eq!(test.groups.as_ref().unwrap(), &[2, 0]);
    assert_eq!(test.group_counts(), vec![1, 0, 1, 0]);
}

#[test]
fn csv_bad_rows_and_missing_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = waterbirds(
        dir.path(),
        "6,001.Land/missing.png,0,0,1,/x\n7,001.Land/a.png\n",
    );
    let opts = LoadOptions {
        channels: Some(1),
        ..Default::default()
    };
    let e = format!(
        "{:#}",
        load_csv(&path, &CsvSpec::default(), Some("train"), &opts).unwrap_err()
    );
    assert!(
        e.contains("metadata.csv row 8") && e.contains("fields"),
        "{e}"
    );
    let (d, r) = load_csv(
        &path,
        &CsvSpec::default(),
        Some("train"),
        &LoadOptions {
            skip_bad: true,
            mel: None,
            ..opts.clone()
        },
    )
    .unwrap();
    assert_eq!((d.len(), r.skipped), (3, 2));
    assert!(
        r.problems
            .iter()
            .any(|p| p.contains("missing.png") && p.contains("row 7")),
        "{:?}",
        r.problems
    );
    let e = load_csv(
        &path,
        &CsvSpec {
            label_col: Some("species".into()),
            ..Default::default()
        },
        None,
        &opts,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("species") && e.contains("img_filename"), "{e}");
}

fn toy(n: usize) -> Dataset {
    let images = (0..n * 4).map(|v| (v % 7) as f32 / 7.0).collect();
    let labels = (0..n).map(|i| (i % 3) as u32).collect();
    Dataset::new(
        images,
        (1, 2, 2),
        labels,
        vec!["a".into(), "b".into(), "c".into()],
        None,
    )
    .unwrap()
}

#[test]
fn class_selection_keeps_or_relabels() {
    let d = toy(9);
    let f = d.filter_classes(&["c", "a"]).unwrap();
    assert_eq!(f.labels, [0, 2, 0, 2, 0, 2]);
    assert_eq!(f.class_names.len(), 3);
    let r = d.relabel_classes(&["c", "a"]).unwrap();
    assert_eq!(r.labels, [1, 0, 1, 0, 1, 0]);
    assert_eq!(r.class_names, ["c", "a"]);
    let x = d.exclude_classes(&["b"]).unwrap();
    assert_eq!(x.len(), 6);
    assert!(d
        .filter_classes(&["zebra"])
        .unwrap_err()
        .to_string()
        .contains("zebra"));
    let s = toy(30).stratified_subset(2, 1);
    assert_eq!(s.class_counts(), vec![2, 2, 2]);
}

#[test]
fn seeded_batches_cover_every_image_once_and_repeat() {
    let d = toy(10);
    let dev = Device::Cpu;
    let order = |seed| -> Vec<usize> {
        d.batches(4, seed, &dev)
            .flat_map(|b| b.unwrap().indices)
            .collect()
    };
    let a = order(3);
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, (0..10).collect::<Vec<_>>());
    assert_eq!(a, order(3));
    assert_ne!(a, order(4));
    let sizes: Vec<usize> = d
        .batches(4, 0, &dev)
        .map(|b| b.unwrap().images.dim(0).unwrap())
        .collect();
    assert_eq!(sizes, [4, 4, 2]);
    assert_eq!(d.batches(4, 0, &dev).drop_last().count(), 2);
    let b = d.batches(4, 0, &dev).next().unwrap().unwrap();
    let labels: Vec<u32> = b.labels.to_vec1().unwrap();
    assert_eq!(
        labels,
        b.indices.iter().map(|&i| d.labels[i]).collect::<Vec<_>>()
    );
}

#[test]
fn flips_mirror_and_crops_shift() {
    // One 1x2x3 image: rows [0,1,2],[3,4,5].
    let d = Dataset::new(
        vec![0., 1., 2., 3., 4., 5.],
        (1, 2, 3),
        vec![0],
        vec!["a".into()],
        None,
    )
    .unwrap();
    let dev = Device::Cpu;
    let mut seen_flip = false;
    for seed in 0..16 {
        let b = d
            .batches(1, seed, &dev)
            .with_augment(Augment {
                hflip: true,
                crop_pad: 0,
            })
            .next()
            .unwrap()
            .unwrap();
        let v: Vec<f32> = b.images.flatten_all().unwrap().to_vec1().unwrap();
        assert!(
            v == [0., 1., 2., 3., 4., 5.] || v == [2., 1., 0., 5., 4., 3.],
            "{v:?}"
        );
        seen_flip |= v[0] == 2.0;
    }
    assert!(seen_flip);
    for seed in 0..8 {
        let b = d
            .batches(1, seed, &dev)
            .with_augment(Augment {
                hflip: false,
                crop_pad: 1,
            })
            .next()
            .unwrap()
            .unwrap();
        let v: Vec<f32> = b.images.flatten_all().unwrap().to_vec1().unwrap();
        // Every value is either padding (-1) or an original pixel, and the content moved rigidly.
        assert!(v.iter().all(|&x| x == -1.0 || (0.0..=5.0).contains(&x)));
    }
}
