//! The built-in registry and its adapters, as shipped in the binary.

use probegan::adapter::Adapter;
use probegan::zoo::{embedded, Registry};

#[test]
fn builtin_registry_has_the_expected_models_with_real_looking_hashes() {
    let reg = Registry::builtin().unwrap();
    for name in [
        "vgg16",
        "resnet50-v2",
        "squeezenet1.1",
        "mobilenetv2",
        "efficientnet-lite4",
        "mnist-8",
    ] {
        let (e, _) = reg.require(name).unwrap();
        assert_eq!(e.sha256.len(), 64);
        assert!(e.size.unwrap() > 1000, "{name}");
        assert!(e.urls.len() >= 2, "{name}: no mirror");
        assert!(
            e.hash_source.as_deref().unwrap().contains("LFS pointer"),
            "{name}"
        );
        assert_ne!(e.license, "unknown", "{name}");
    }
    let mut hashes: Vec<_> = reg.entries().map(|(e, _)| e.sha256.clone()).collect();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), reg.names().len(), "two entries share a hash");
}

#[test]
fn every_embedded_adapter_loads_with_its_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::builtin().unwrap();
    for (e, _) in reg.entries() {
        let dir = tmp.path().join(&e.name);
        std::fs::create_dir_all(&dir).unwrap();
        let path = embedded::materialize_adapter(e.adapter.as_deref().unwrap(), &dir).unwrap();
        let a = Adapter::load(&path).unwrap_or_else(|err| panic!("{}: {err:#}", e.name));
        let expect = if e.name == "mnist-8" { 10 } else { 1000 };
        assert_eq!(a.class_names().len(), expect, "{}", e.name);
        assert_eq!(a.zoo_name(), Some(e.name.as_str()), "{}", e.name);
    }
}

#[test]
fn repository_adapters_load_in_place() {
    // The same files, read from the checkout with their repository-relative labels path.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (rel, text) in embedded::ADAPTERS {
        let path = root.join(rel);
        assert_eq!(&std::fs::read_to_string(&path).unwrap(), text);
        Adapter::load(&path).unwrap_or_else(|err| panic!("{rel}: {err:#}"));
    }
}
