//! # Synthetic brain phantoms
//!
//! medgen downloads nothing: its default data set is a seeded generator of brain-like slices
//! and volumes (head outline, skull, CSF, grey and white matter, ventricles that widen with an
//! "age" covariate, and optional lesions), with tissue label maps and lesion masks.
//!
//! This example generates a batch, draws it as a PNG grid, draws slices of 3D phantoms, and
//! saves a MedMNIST-style `.npz` that it then loads back with medgen's npz loader.
//!
//! ```sh
//! cargo run --release --example phantoms -- --out out/phantoms [--n 16] [--size 64] [--seed 0]
//! ```

use clap::Parser;
use std::error::Error;
use std::path::PathBuf;

use medgen::burn::tensor::{Int, Tensor};
use medgen::core::{DeviceChoice, seeded_rng};
use medgen::data::{
    MedMnistSplit, NpzCompression, NpzImageConfig, NpzImageSet, PhantomConfig, save_npz_medmnist,
};
use medgen::train::viz::{GridBuilder, VolumeSlice};

/// Generate synthetic brain phantoms.
#[derive(Parser)]
#[command(long_about = None)]
struct Args {
    /// Output folder.
    #[arg(long, default_value = "out/phantoms")]
    out: PathBuf,
    /// 2D phantoms to draw.
    #[arg(long, default_value_t = 16)]
    n: usize,
    /// Image size in pixels.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu | wgpu | wgpu-cpu.
    #[arg(long, default_value = "cpu")]
    device: DeviceChoice,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let out = args.out.clone();
    let n = args.n;
    let size = args.size;
    let seed = args.seed;
    let device = args.device.device()?;
    std::fs::create_dir_all(&out)?;
    let mut rng = seeded_rng(seed);

    // 1. A batch of 2D phantoms: images in [0, 1], label maps, masks and covariates.
    let config = PhantomConfig::new(size);
    let batch = config.generate_batch(n, &mut rng)?;
    println!("generated {n} phantoms of {size}x{size} (seed {seed})");
    for (i, c) in batch.covariates.iter().take(4).enumerate() {
        println!(
            "  phantom {i}: age {:.2}, class {}, ventricles {:.1}% of the slice, lesions {:.2}%",
            c.age,
            c.class,
            100.0 * c.ventricle_fraction,
            100.0 * c.lesion_fraction
        );
    }

    // 2. On the device as tensors in [-1, 1], then one PNG: images, tissue labels, lesion masks.
    let tensors = batch.to_tensors::<4>(&device)?;
    let ncols = n.min(8);
    let lesions: Tensor<4, Int> = tensors.lesion_masks.clone().int();
    let grid = out.join("phantoms.png");
    GridBuilder::new()
        .scale(2)
        .images(tensors.images.clone(), (-1.0, 1.0), ncols)?
        .labels(tensors.labels.clone(), ncols)?
        .labels(lesions, ncols)?
        .save(&grid)?;
    println!("wrote {} (rows: images, tissue labels, lesion masks)", grid.display());

    // 3. 3D phantoms from the same anatomical model: axial, coronal and sagittal centre slices.
    let volumes = PhantomConfig::new(size / 2)
        .generate_volume_batch(4, &mut rng)?
        .to_tensors::<5>(&device)?;
    let mut builder = GridBuilder::new().scale(3);
    for axis in 0..3 {
        builder =
            builder.volumes(volumes.images.clone(), (-1.0, 1.0), VolumeSlice::central(axis), 4)?;
    }
    let volume_grid = out.join("phantoms_3d.png");
    builder.save(&volume_grid)?;
    println!("wrote {} (rows: axial, coronal, sagittal slices)", volume_grid.display());

    // 4. A MedMNIST-layout archive: uint8 images N x H x W and labels N x 1 per split.
    let splits = [(MedMnistSplit::Train, 64), (MedMnistSplit::Val, 16), (MedMnistSplit::Test, 16)];
    let mut arrays = Vec::new();
    for (split, count) in splits {
        arrays.push(config.generate_batch(count, &mut rng)?.to_medmnist(split)?);
    }
    let npz = out.join("phantoms.npz");
    save_npz_medmnist(&npz, &arrays, NpzCompression::Deflated)?;
    println!("wrote {} (train 64, val 16, test 16)", npz.display());

    // 5. Read it back as a user would read any MedMNIST file.
    let train = NpzImageSet::load(&npz, MedMnistSplit::Train, &NpzImageConfig::new())?;
    println!(
        "loaded back train split: {} images of shape {:?}, labels {:?}...",
        train.len(),
        &train.shape[1..],
        &train.labels[..train.labels.len().min(8)]
    );
    Ok(())
}
