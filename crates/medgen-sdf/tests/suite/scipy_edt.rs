//! `distance_transform_edt` and `signed_distance` against scipy 1.17's
//! `scipy.ndimage.distance_transform_edt` (fixture copied from `shared/refs/edt.json`:
//! 2D and 3D masks, some with anisotropic sampling).

use medgen_sdf::{EdtOptions, SdfConfig, distance_transform_edt, signed_distance};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    scipy_version: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    shape: Vec<usize>,
    sampling: Option<Vec<f64>>,
    /// Row-major 0/1.
    mask: Vec<u8>,
    /// scipy's edt of the inverted mask.
    dist_to_foreground: Vec<f64>,
    /// scipy's edt of the mask.
    dist_to_background: Vec<f64>,
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/edt.json");
    let text = std::fs::read_to_string(path).expect("read the edt fixture");
    serde_json::from_str(&text).expect("parse the edt fixture")
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-9, "{what}[{i}]: {g} vs scipy {w}");
    }
}

#[test]
fn edt_matches_scipy_in_2d_and_3d_with_anisotropic_sampling() {
    let fixture = fixture();
    assert!(fixture.scipy_version.starts_with("1."));
    assert!(fixture.cases.iter().any(|c| c.shape.len() == 3 && c.sampling.is_some()));
    for case in &fixture.cases {
        let mask: Vec<bool> = case.mask.iter().map(|&m| m != 0).collect();
        let inverted: Vec<bool> = mask.iter().map(|m| !m).collect();
        let options = EdtOptions::new().with_sampling(case.sampling.clone());
        let what = format!("shape {:?} sampling {:?}", case.shape, case.sampling);
        let to_background = distance_transform_edt(&mask, &case.shape, &options).unwrap();
        assert_close(&to_background.distances, &case.dist_to_background, &what);
        let to_foreground = distance_transform_edt(&inverted, &case.shape, &options).unwrap();
        assert_close(&to_foreground.distances, &case.dist_to_foreground, &what);
    }
}

#[test]
fn signed_distance_is_the_difference_of_scipy_transforms() {
    for case in &fixture().cases {
        let mask: Vec<bool> = case.mask.iter().map(|&m| m != 0).collect();
        let config = SdfConfig::new().with_sampling(case.sampling.clone());
        let sdf = signed_distance(&mask, &case.shape, &config).unwrap();
        let expected: Vec<f64> = case
            .dist_to_foreground
            .iter()
            .zip(&case.dist_to_background)
            .map(|(out, inside)| out - inside)
            .collect();
        assert_close(&sdf, &expected, "sdf");
    }
}
