//! Config files and `--set` overrides.

use probegan::methods::MethodConfig;
use probegan::train::config::apply_override;
use probegan::train::Config;

fn base() -> String {
    std::fs::read_to_string("configs/probegan_fmnist32.toml").unwrap()
}

#[test]
fn every_shipped_config_parses() {
    for e in std::fs::read_dir("configs").unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            Config::load(&p, &[]).unwrap_or_else(|e| panic!("{}: {e:#}", p.display()));
        }
    }
}

#[test]
fn overrides_set_numbers_strings_arrays_and_new_keys() {
    let c = Config::from_toml_str(
        &base(),
        &[
            "train.lr_g=3e-4".into(),
            "data.unseen=[\"Bag\", \"Coat\"]".into(),
            "model.g_widths=[16,16,16,16]".into(),
            "method.tilemix=2".into(),
            "run.out_dir = runs/x y".into(),
        ],
    )
    .unwrap();
    assert_eq!(c.train.lr_g, 3e-4);
    assert_eq!(c.data.unseen, vec!["Bag".to_string(), "Coat".to_string()]);
    assert_eq!(c.model.g_widths, vec![16; 4]);
    match &c.method {
        MethodConfig::Probegan(p) => assert_eq!(p.tilemix, 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.run.out_dir, std::path::PathBuf::from("runs/x y"));
}

#[test]
fn bad_overrides_and_configs_are_clear_errors() {
    let err = |o: &str| {
        format!(
            "{:#}",
            Config::from_toml_str(&base(), &[o.to_string()]).unwrap_err()
        )
    };
    assert!(err("train.lr_g").contains("expected key=value"));
    assert!(
        err("train.lr_gg=1").contains("lr_gg"),
        "unknown keys are rejected: {}",
        err("train.lr_gg=1")
    );
    assert!(err("train.lr_g=fast").contains("lr_g"));
    assert!(err("method.name=gan").contains("unknown variant `gan`"));
    assert!(err("model.g_widths=[8,8]").contains("g_widths"));
    assert!(err("model.resolution=48").contains("power of two"));
    assert!(err("train.ema_decay=1.5").contains("ema_decay"));
    let mut v: toml::Value = toml::from_str("a = 1").unwrap();
    assert!(apply_override(&mut v, "a.b=2")
        .unwrap_err()
        .to_string()
        .contains("not a table"));
    assert!(apply_override(&mut v, "=2").is_err());
}

/// `loss.ce_lambda_max` caps the adaptive balance; anywhere else it would silently do
/// nothing, so it is refused there, as is a cap that is not a positive number.
#[test]
fn lambda_cap_needs_the_adaptive_balance_and_a_positive_value() {
    let adaptive = "loss.ce_balance=\"adaptive\"".to_string();
    let c = Config::from_toml_str(&base(), &[adaptive.clone(), "loss.ce_lambda_max=12".into()])
        .unwrap();
    assert_eq!(c.loss.ce_lambda_max, Some(12.0));
    // It round-trips through the run's saved config.
    let again = Config::from_toml_str(&c.to_toml().unwrap(), &[]).unwrap();
    assert_eq!(again.loss.ce_lambda_max, Some(12.0));

    let err = Config::from_toml_str(&base(), &["loss.ce_lambda_max=12".into()]).unwrap_err();
    assert!(format!("{err:#}").contains("adaptive"), "{err:#}");
    for bad in ["0", "-3", "nan"] {
        let err = Config::from_toml_str(
            &base(),
            &[adaptive.clone(), format!("loss.ce_lambda_max={bad}")],
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("positive"), "{bad}: {err:#}");
    }
}

/// `method.unseen_dilution` is the unseen fakes' weight in D_u's critic: a fraction, default 1
/// (the paper's uniform dilution), and refused outside [0, 1].
#[test]
fn unseen_dilution_is_a_weight_in_zero_to_one() {
    use probegan::methods::config::MethodConfig;
    let weight = |c: &Config| match &c.method {
        MethodConfig::Probegan(p) => p.unseen_dilution,
        other => panic!("{other:?}"),
    };
    assert_eq!(weight(&Config::from_toml_str(&base(), &[]).unwrap()), 1.0);
    let c = Config::from_toml_str(&base(), &["method.unseen_dilution=0.25".into()]).unwrap();
    assert_eq!(weight(&c), 0.25);
    for bad in ["-0.5", "1.5"] {
        let err =
            Config::from_toml_str(&base(), &[format!("method.unseen_dilution={bad}")]).unwrap_err();
        assert!(
            format!("{err:#}").contains("unseen_dilution"),
            "{bad}: {err:#}"
        );
    }
}

/// `method.class_blind` is the confusion loss's weight: 0 or more, and only with D_u's own
/// trunk (a shared one would blind D_c's projection) and without TileMix.
#[test]
fn class_blind_needs_its_own_trunk_and_a_non_negative_weight() {
    let own = "model.separate_du_trunk=true".to_string();
    let ok = Config::from_toml_str(&base(), &["method.class_blind=1.0".into(), own.clone()]);
    assert!(ok.is_ok(), "{:#}", ok.unwrap_err());
    for (sets, needle) in [
        (
            vec!["method.class_blind=-1.0".to_string(), own.clone()],
            "class_blind",
        ),
        (
            vec![
                "method.class_blind=1.0".to_string(),
                "model.separate_du_trunk=false".into(),
            ],
            "separate_du_trunk",
        ),
        (
            vec![
                "method.class_blind=1.0".to_string(),
                own.clone(),
                "method.tilemix=2".into(),
            ],
            "tilemix",
        ),
        (
            vec!["method.class_blind_classes=\"some\"".to_string()],
            "expected `all` or `unseen`",
        ),
    ] {
        let err = Config::from_toml_str(&base(), &sets).unwrap_err();
        assert!(format!("{err:#}").contains(needle), "{sets:?}: {err:#}");
    }
}

/// `method.unseen_anchor_step` needs an unseen class (not ORACLE), a non-empty pool, and no
/// class probe (which would read the pool under the seen reals' labels).
#[test]
fn unseen_anchor_is_refused_where_it_cannot_work() {
    let anchor = "method.unseen_anchor_step=2000".to_string();
    let c = Config::from_toml_str(&base(), &[anchor.clone()]).unwrap();
    match &c.method {
        MethodConfig::Probegan(p) => {
            assert_eq!((p.unseen_anchor_step, p.unseen_anchor_size), (2000, 1024))
        }
        other => panic!("{other:?}"),
    }
    for (sets, needle) in [
        (
            vec![anchor.clone(), "method.unseen_anchor_size=0".into()],
            "unseen_anchor_size",
        ),
        (
            vec![anchor.clone(), "method.unseen_anchor_candidates=0".into()],
            "unseen_anchor_candidates",
        ),
        (vec!["method.name=oracle".into(), anchor.clone()], "ORACLE"),
        (
            vec![
                anchor.clone(),
                "model.separate_du_trunk=true".into(),
                "method.class_blind=1.0".into(),
            ],
            "class_blind",
        ),
    ] {
        let err = Config::from_toml_str(&base(), &sets).unwrap_err();
        assert!(format!("{err:#}").contains(needle), "{sets:?}: {err:#}");
    }
}

/// `--set method.name=X` starts from X's defaults (the previous method's options would be
/// unknown keys to it); options set after the name apply to the new method.
#[test]
fn switching_method_drops_the_previous_methods_options() {
    let c = Config::from_toml_str(&base(), &["method.name=am".into(), "method.steps=7".into()])
        .unwrap();
    assert_eq!(c.method.name(), "am");
    match &c.method {
        MethodConfig::Am(am) => assert_eq!((am.steps, am.lr), (7, 0.01)),
        other => panic!("{other:?}"),
    }
    let c = Config::from_toml_str(&base(), &["method.name=naive".into()]).unwrap();
    assert_eq!(c.method, MethodConfig::Naive {});
    // The same name keeps the options.
    let c = Config::from_toml_str(
        &base(),
        &["method.name=probegan".into(), "method.tilemix=3".into()],
    )
    .unwrap();
    assert!(
        matches!(&c.method, MethodConfig::Probegan(p) if p.tilemix == 3 && p.gp_weight == 10.0)
    );
}

/// A config in the format before the `[method]` table gets an error naming each key's new place.
#[test]
fn old_format_keys_are_errors_that_name_their_new_place() {
    let old = base()
        .replace(
            "[method]\nname = \"probegan\"",
            "[am]\nsteps = 3\n\n[method]\nname = \"probegan\"",
        )
        .replace("[run]\n", "[run]\nmethod = \"naive\"\n");
    let e = format!("{:#}", Config::from_toml_str(&old, &[]).unwrap_err());
    assert!(e.contains("`run.method` is now `method.name`"), "{e}");
    assert!(e.contains("`am.steps` is now `method.steps`"), "{e}");
    let e = format!(
        "{:#}",
        Config::from_toml_str(&base(), &["loss.tilemix=2".into()]).unwrap_err()
    );
    assert!(e.contains("`loss.tilemix` is now `method.tilemix`"), "{e}");
}

/// `loss.ce_margin` is a probability in [0, 1); `loss.ce_view_*` are a crop fraction below
/// 0.9, a probability and a blur σ of at most 4 pixels; each bad value names its key.
#[test]
fn classifier_term_margin_and_views_are_checked() {
    let ok = Config::from_toml_str(
        &base(),
        &[
            "loss.ce_margin=0.9".into(),
            "loss.ce_view_jitter=0.15".into(),
            "loss.ce_view_resample=0.5".into(),
            "loss.ce_view_blur=1.0".into(),
        ],
    );
    assert!(ok.is_ok(), "{:#}", ok.unwrap_err());
    for (set, needle) in [
        ("loss.ce_margin=1.0", "ce_margin"),
        ("loss.ce_margin=-0.1", "ce_margin"),
        ("loss.ce_view_jitter=0.95", "ce_view_jitter"),
        ("loss.ce_view_resample=2.0", "ce_view_resample"),
        ("loss.ce_view_blur=5.0", "ce_view_blur"),
    ] {
        let err = Config::from_toml_str(&base(), &[set.into()]).unwrap_err();
        assert!(format!("{err:#}").contains(needle), "{set}: {err:#}");
    }
}
