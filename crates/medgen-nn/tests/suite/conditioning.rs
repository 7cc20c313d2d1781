//! Cross-attention conditioning and ControlNet through the public API: U-Nets built
//! `with_conditioning` in 2D and 3D (output depends on the context, masked tokens do not
//! count, dropped or fully masked items get the learned null context, classifier-free
//! guidance runs, gradients reach every parameter), and a ControlNet steering a frozen U-Net
//! (a fresh one changes nothing, exactly; a perturbed zero convolution does; scale 0 is the
//! base; gradients reach the ControlNet and not the base), with the typed errors of inputs that
//! do not fit.

use medgen_core::burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use medgen_core::burn::tensor::{Bool, Device, Gradients, Tensor, TensorData};
use medgen_core::noise::gaussian_noise;
use medgen_core::{
    ClassifierFreeGuidance, Condition, CoreError, GuidanceConfig, SeededRng,
    TimeConditionedNetwork, init_seeded, seeded_rng,
};
use medgen_nn::{
    ControlNet, ControlNetConfig, ControlResiduals, ControlledUNet, SpatialConvConfig, UNet,
    UNetConfig,
};
use medgen_testing::{assert_err, max_abs_diff, test_device, testing_on_wgpu};

/// The side of the 2D test images.
fn side() -> usize {
    if testing_on_wgpu() { 4 } else { 8 }
}

const CONTEXT_DIM: usize = 6;

/// Two levels (8 and 16 channels), one residual block per level, spatial transformers at
/// factor 2 and in the middle with 4 channels per head, context tokens of width 6.
fn cross_config(spatial_dims: usize) -> UNetConfig {
    UNetConfig::new(2, 2)
        .with_spatial_dims(spatial_dims)
        .with_base_channels(8)
        .with_channel_mults(vec![1, 2])
        .with_num_res_blocks(1)
        .with_attention_resolutions(vec![2])
        .with_groups(4)
        .with_cross_attention_dim(Some(CONTEXT_DIM))
        .with_num_head_channels(Some(4))
}

/// The same layout without conditioning (the ControlNet tests' base).
fn plain_config(spatial_dims: usize) -> UNetConfig {
    UNetConfig::new(2, 2)
        .with_spatial_dims(spatial_dims)
        .with_base_channels(8)
        .with_channel_mults(vec![1, 2])
        .with_num_res_blocks(1)
        .with_attention_resolutions(vec![])
        .with_middle_attention(false)
        .with_groups(4)
}

fn seeded<M: Module>(
    device: &Device,
    seed: u64,
    init: impl FnOnce(&Device) -> medgen_core::Result<M>,
) -> M {
    init_seeded(device, &mut seeded_rng(seed), init).unwrap()
}

fn noise<const D: usize>(shape: [usize; D], seed: u64, device: &Device) -> Tensor<D> {
    gaussian_noise(shape, &mut seeded_rng(seed), device).unwrap()
}

/// Adds `0.1 · N(0, 1)` to every float parameter: moves the zero-initialised projections
/// (transformer outputs, zero convolutions) off zero, as training would.
struct Perturb(SeededRng);

impl ModuleMapper for Perturb {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let value = param.val();
        let shape: [usize; D] = value.dims();
        let delta = gaussian_noise(shape, &mut self.0, &value.device()).unwrap();
        Param::from_tensor(value.add(delta.mul_scalar(0.1)).detach())
    }
}

fn perturbed<M: Module>(module: M, seed: u64) -> M {
    module.map(&mut Perturb(seeded_rng(seed)))
}

fn mask(rows: &[&[bool]], device: &Device) -> Tensor<2, Bool> {
    let n = rows.len();
    let l = rows[0].len();
    let values: Vec<f32> =
        rows.iter().flat_map(|r| r.iter().map(|&b| f32::from(u8::from(b)))).collect();
    Tensor::<2>::from_data(TensorData::new(values, [n, l]), device).bool()
}

/// A configuration saved before the cross-attention options existed still loads, as a plain
/// U-Net.
#[test]
fn configurations_without_the_new_options_still_load() {
    use medgen_core::burn::config::{Config, config_to_json};
    // Pretty-printed JSON: one field per line, so the new keys can be dropped line by line.
    let json = config_to_json(&plain_config(2));
    let mut value: Vec<&str> = json.lines().collect();
    value.retain(|line| {
        !["cross_attention_dim", "num_head_channels", "transformer_num_layers"]
            .iter()
            .any(|key| line.contains(key))
    });
    let old = value.join("\n").replace(",\n}", "\n}");
    assert!(!old.contains("cross_attention_dim"));
    let loaded = UNetConfig::load_binary(old.as_bytes()).unwrap();
    assert!(!loaded.has_cross_attention());
    assert_eq!(config_to_json(&loaded), json);
}

#[test]
fn cross_attention_unets_keep_the_shape_in_2d_and_3d() {
    let device = test_device();
    let s = side();
    let unet = seeded(&device, 0, |d| cross_config(2).init(d));
    assert_eq!(unet.cross_attention_dim(), Some(CONTEXT_DIM));
    let t = Tensor::<1>::from_floats([3.0, 300.0], &device);
    let context = Condition::<4>::none().with_context(noise([2, 3, CONTEXT_DIM], 1, &device));
    let y = unet.evaluate(noise([2, 2, s, s], 2, &device), t.clone(), &context).unwrap();
    assert_eq!(y.dims(), [2, 2, s, s]);

    let unet = seeded(&device, 0, |d| cross_config(3).with_transformer_num_layers(Some(2)).init(d));
    let context = Condition::<5>::none().with_context(noise([2, 5, CONTEXT_DIM], 1, &device));
    let y = unet.evaluate(noise([2, 2, 4, 4, 4], 2, &device), t, &context).unwrap();
    assert_eq!(y.dims(), [2, 2, 4, 4, 4]);

    // The same seed gives the same network (the new parameters are seeded too).
    let again =
        seeded(&device, 0, |d| cross_config(3).with_transformer_num_layers(Some(2)).init(d));
    let y2 = again
        .evaluate(
            noise([2, 2, 4, 4, 4], 2, &device),
            Tensor::from_floats([3.0, 300.0], &device),
            &context,
        )
        .unwrap();
    assert_eq!(max_abs_diff(y, y2), 0.0);
}

#[test]
fn the_output_depends_on_the_context_but_not_on_masked_tokens() {
    let device = test_device();
    let s = side();
    let unet = perturbed(seeded(&device, 1, |d| cross_config(2).init(d)), 7);
    let x = noise([2, 2, s, s], 3, &device);
    let t = Tensor::<1>::from_floats([50.0, 50.0], &device);
    let run = |c: &Condition<4>| unet.evaluate(x.clone(), t.clone(), c).unwrap();
    let c1 = noise([2, 3, CONTEXT_DIM], 4, &device);
    let c2 = noise([2, 3, CONTEXT_DIM], 5, &device);
    let y1 = run(&Condition::none().with_context(c1.clone()));
    let y2 = run(&Condition::none().with_context(c2.clone()));
    assert!(max_abs_diff(y1, y2) > 1e-4, "the context must change the output");

    // Tokens masked out (the last one of item 0, the first two of item 1) have no effect.
    let m = mask(&[&[true, true, false], &[false, false, true]], &device);
    let keep = m.clone().float().unsqueeze_dim::<3>(2);
    let mixed = c1.clone().mul(keep.clone()).add(c2.mul(keep.neg().add_scalar(1.0)));
    let a = run(&Condition::none().with_context(c1.clone()).with_context_mask(m.clone()));
    let b = run(&Condition::none().with_context(mixed).with_context_mask(m));
    assert!(max_abs_diff(a.clone(), b) < 1e-5, "masked tokens changed the output");
    let all = run(&Condition::none().with_context(c1));
    assert!(max_abs_diff(a, all) > 1e-5, "the mask must matter");
}

#[test]
fn dropped_and_fully_masked_items_get_the_null_context_and_guidance_runs() {
    let device = test_device();
    let s = side();
    let unet = perturbed(seeded(&device, 2, |d| cross_config(2).init(d)), 8);
    let x = noise([2, 2, s, s], 3, &device);
    let t = Tensor::<1>::from_floats([10.0, 10.0], &device);
    let run = |c: &Condition<4>| unet.evaluate(x.clone(), t.clone(), c).unwrap();
    let c1 = Condition::<4>::none().with_context(noise([2, 3, CONTEXT_DIM], 4, &device));
    let c2 = Condition::<4>::none().with_context(noise([2, 3, CONTEXT_DIM], 5, &device));
    let null_1 = run(&c1.to_null(2, &device));
    let null_2 = run(&c2.to_null(2, &device));
    assert!(max_abs_diff(null_1.clone(), null_2) < 1e-5, "the null context ignores the tokens");
    let y1 = run(&c1);
    assert!(max_abs_diff(y1.clone(), null_1.clone()) > 1e-4);

    // Item 1 fully masked: it gets the null context; item 0 keeps its own.
    let masked =
        c1.clone().with_context_mask(mask(&[&[true, true, true], &[false, false, false]], &device));
    let y = run(&masked);
    let item = |y: Tensor<4>, i: usize| y.narrow(0, i, 1);
    assert!(max_abs_diff(item(y.clone(), 0), item(y1, 0)) < 1e-5);
    assert!(max_abs_diff(item(y, 1), item(null_1, 1)) < 1e-5);

    // Classifier-free guidance drops the context.
    assert!(c1.has_droppable_part());
    let guided = ClassifierFreeGuidance::new(&unet, GuidanceConfig::new().with_scale(3.0)).unwrap();
    assert_eq!(guided.evaluate(x.clone(), t.clone(), &c1).unwrap().dims(), [2, 2, s, s]);
}

/// Counts the parameters of a module with and without a gradient, and sums `|g|`.
struct GradientCount<'a> {
    grads: &'a Gradients,
    with: usize,
    without: usize,
    magnitude: f32,
}

impl ModuleVisitor for GradientCount<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        match param.val().grad(self.grads) {
            Some(g) => {
                self.with += 1;
                self.magnitude += g.abs().sum().into_scalar::<f32>();
            }
            None => self.without += 1,
        }
    }
}

fn count_gradients<'a, M: Module>(module: &M, grads: &'a Gradients) -> GradientCount<'a> {
    let mut count = GradientCount { grads, with: 0, without: 0, magnitude: 0.0 };
    module.visit(&mut count);
    count
}

#[test]
fn gradients_reach_every_cross_attention_parameter() {
    let device = test_device().autodiff();
    let unet = perturbed(seeded(&device, 3, |d| cross_config(3).init(d)), 9);
    let condition = Condition::<5>::none()
        .with_context(noise([2, 2, CONTEXT_DIM], 1, &device))
        .with_context_mask(mask(&[&[true, false], &[true, true]], &device));
    // Item 1 dropped: the null context is used, so it gets a gradient too.
    let condition = Condition { keep: Some(Tensor::from_floats([1.0, 0.0], &device)), ..condition };
    let t = Tensor::<1>::from_floats([10.0, 250.0], &device);
    let y = unet.forward(noise([2, 2, 4, 4, 4], 2, &device), t, &condition).unwrap();
    let grads = y.powi_scalar(2).mean().backward();
    let count = count_gradients(&unet, &grads);
    assert_eq!(count.without, 0, "parameters without a gradient");
    assert!(count.magnitude.is_finite() && count.magnitude > 0.0);
    let null = unet.null_context().unwrap().token.val().grad(&grads).unwrap();
    assert!(null.abs().sum().into_scalar::<f32>() > 0.0, "the null context learns");
}

/// A base U-Net, a ControlNet copied from it, and a condition with a control image.
fn controlled(spatial_dims: usize, device: &Device) -> (UNet, ControlNet) {
    let base = seeded(device, 4, |d| plain_config(spatial_dims).init(d));
    let controlnet = seeded(device, 5, |d| ControlNetConfig::new(1).init_from_unet(&base, d));
    (base, controlnet)
}

#[test]
fn a_fresh_controlnet_changes_nothing_and_a_trained_one_does() {
    let device = test_device();
    let s = side();
    let (base, controlnet) = controlled(2, &device);
    assert_eq!(controlnet.skip_channels(), base.skip_channels());
    let x = noise([2, 2, s, s], 1, &device);
    let t = Tensor::<1>::from_floats([20.0, 700.0], &device);
    let condition = Condition::<4>::none().with_control(noise([2, 1, s, s], 2, &device));
    let reference = base.forward(x.clone(), t.clone(), &condition).unwrap();

    let net = ControlledUNet::new(base.clone(), controlnet.clone()).unwrap();
    let y = net.evaluate(x.clone(), t.clone(), &condition).unwrap();
    assert_eq!(max_abs_diff(y, reference.clone()), 0.0, "zero convolutions must add exactly 0");

    // Move one zero convolution off zero: the output changes.
    let mut moved = controlnet.clone();
    moved.controlnet_down_blocks_mut()[0] = SpatialConvConfig::new(2, [8, 8])
        .with_kernel_size(1)
        .with_padding(0)
        .init(&device)
        .unwrap();
    let net = ControlledUNet::new(base.clone(), moved).unwrap();
    let y = net.evaluate(x.clone(), t.clone(), &condition).unwrap();
    assert!(max_abs_diff(y, reference.clone()) > 1e-5, "a non-zero convolution must steer");

    // Trained (every parameter moved, the hint embedding's zero convolution too): the output
    // depends on the control image; scale 0 is the base again, exactly.
    let net = ControlledUNet::new(base.clone(), perturbed(controlnet, 3)).unwrap();
    let other = Condition::<4>::none().with_control(noise([2, 1, s, s], 9, &device));
    let y1 = net.evaluate(x.clone(), t.clone(), &condition).unwrap();
    let y2 = net.evaluate(x.clone(), t.clone(), &other).unwrap();
    assert!(max_abs_diff(y1, y2) > 1e-5, "the control image must matter");
    let off = net.with_conditioning_scale(0.0).unwrap();
    assert_eq!(off.conditioning_scale(), 0.0);
    assert_eq!(max_abs_diff(off.evaluate(x, t, &condition).unwrap(), reference), 0.0);
}

#[test]
fn controlnets_work_in_3d_with_a_larger_control_image_and_on_cross_attention_unets() {
    let device = test_device();
    let base = seeded(&device, 4, |d| plain_config(3).init(d));
    let config = ControlNetConfig::new(2).with_conditioning_embedding_num_channels(vec![4, 8]);
    let controlnet = seeded(&device, 5, |d| config.init(&plain_config(3), d));
    assert_eq!(controlnet.controlnet_cond_embedding().downsampling_factor(), 2);
    let net = perturbed(ControlledUNet::new(base, controlnet).unwrap(), 1);
    let condition = Condition::<5>::none().with_control(noise([1, 2, 8, 8, 8], 2, &device));
    let t = Tensor::<1>::from_floats([5.0], &device);
    let y = net.evaluate(noise([1, 2, 4, 4, 4], 1, &device), t, &condition).unwrap();
    assert_eq!(y.dims(), [1, 2, 4, 4, 4]);

    // A ControlNet of a cross-attention U-Net takes the context too.
    let s = side();
    let base = seeded(&device, 6, |d| cross_config(2).init(d));
    let controlnet = seeded(&device, 7, |d| ControlNetConfig::new(1).init_from_unet(&base, d));
    assert_eq!(controlnet.cross_attention_dim(), Some(CONTEXT_DIM));
    let net = ControlledUNet::new(base, controlnet).unwrap();
    let condition = Condition::<4>::none()
        .with_context(noise([2, 3, CONTEXT_DIM], 1, &device))
        .with_control(noise([2, 1, s, s], 2, &device));
    let t = Tensor::<1>::from_floats([5.0, 6.0], &device);
    let x = noise([2, 2, s, s], 1, &device);
    let y = net.evaluate(x.clone(), t.clone(), &condition).unwrap();
    assert_eq!(y.dims(), [2, 2, s, s]);
    // Classifier-free guidance over the pair: the control image goes to both branches.
    let guided = ClassifierFreeGuidance::new(&net, GuidanceConfig::new().with_scale(2.0)).unwrap();
    assert_eq!(guided.evaluate(x, t, &condition).unwrap().dims(), [2, 2, s, s]);
}

#[test]
fn gradients_reach_the_controlnet_and_not_the_frozen_base() {
    let device = test_device().autodiff();
    let (base, controlnet) = controlled(2, &device);
    let net = ControlledUNet::new(base, controlnet).unwrap();
    let s = side();
    let condition = Condition::<4>::none().with_control(noise([2, 1, s, s], 2, &device));
    let t = Tensor::<1>::from_floats([20.0, 700.0], &device);
    let y = net.forward(noise([2, 2, s, s], 1, &device), t, &condition).unwrap();
    let grads = y.powi_scalar(2).mean().backward();
    let base = count_gradients(net.base(), &grads);
    assert_eq!(base.with, 0, "the frozen base must get no gradient");
    assert!(base.without > 0);
    let control = count_gradients(net.controlnet(), &grads);
    assert_eq!(control.without, 0, "ControlNet parameters without a gradient");
    // At init only the zero convolutions' gradients are non-zero; they are.
    assert!(control.magnitude.is_finite() && control.magnitude > 0.0);
}

/// Two optimiser steps of medgen's trainer on a controlled U-Net: the ControlNet moves, the
/// frozen base stays bit for bit.
#[test]
fn training_moves_the_controlnet_and_leaves_the_frozen_base_alone() {
    use medgen_core::burn::optim::AdamWConfig;
    use medgen_train::{Trainer, TrainerConfig, WarmupCosineConfig};
    let device = test_device().autodiff();
    let (base, controlnet) = controlled(2, &device);
    let net = ControlledUNet::new(base.clone(), controlnet).unwrap();
    let s = side();
    let x = noise([2, 2, s, s], 1, &device);
    let target = noise([2, 2, s, s], 2, &device);
    let t = Tensor::<1>::from_floats([20.0, 700.0], &device);
    let condition = Condition::<4>::none().with_control(noise([2, 1, s, s], 3, &device));
    let config = TrainerConfig::new(WarmupCosineConfig::new(1e-2, 2));
    let mut trainer =
        Trainer::new(&config, net, AdamWConfig::new().init(), seeded_rng(0), &()).unwrap();
    for _ in 0..2 {
        trainer
            .step(|model: &ControlledUNet, _, _| -> Result<Tensor<1>, CoreError> {
                let y = model.forward(x.clone(), t.clone(), &condition)?;
                Ok(y.sub(target.clone()).powi_scalar(2).mean())
            })
            .unwrap();
    }
    let trained = trainer.into_model();
    let reference = base.forward(x.clone(), t.clone(), &condition).unwrap();
    let frozen = trained.base().forward(x.clone(), t.clone(), &condition).unwrap();
    assert_eq!(max_abs_diff(frozen, reference.clone()), 0.0, "the frozen base moved");
    let steered = trained.forward(x, t, &condition).unwrap();
    assert!(max_abs_diff(steered, reference) > 0.0, "the ControlNet did not learn");
}

#[test]
fn inputs_that_do_not_fit_are_typed_errors() {
    let device = test_device();
    let s = side();
    let x = noise([2, 2, s, s], 1, &device);
    let t = Tensor::<1>::from_floats([1.0, 2.0], &device);

    // Contexts.
    let unet = seeded(&device, 0, |d| cross_config(2).init(d));
    let eval = |c: &Condition<4>| unet.evaluate(x.clone(), t.clone(), c);
    assert_err!(eval(&Condition::none()), CoreError::InvalidConfig { .. }, "condition.context");
    let wide = Condition::none().with_context(Tensor::zeros([2, 3, CONTEXT_DIM + 1], &device));
    assert_err!(eval(&wide), CoreError::ShapeMismatch { .. }, "condition.context");
    let batch = Condition::none().with_context(Tensor::zeros([3, 3, CONTEXT_DIM], &device));
    assert_err!(eval(&batch), CoreError::ShapeMismatch { .. }, "condition");
    let empty = Condition::none().with_context(Tensor::zeros([2, 0, CONTEXT_DIM], &device));
    assert_err!(eval(&empty), CoreError::ShapeMismatch { .. }, "condition.context");
    let bad_mask = Condition::none()
        .with_context(Tensor::zeros([2, 3, CONTEXT_DIM], &device))
        .with_context_mask(mask(&[&[true, true], &[true, true]], &device));
    assert_err!(eval(&bad_mask), CoreError::ShapeMismatch { .. }, "condition.context_mask");
    let plain = seeded(&device, 0, |d| plain_config(2).init(d));
    let context = Condition::none().with_context(Tensor::zeros([2, 3, CONTEXT_DIM], &device));
    assert_err!(
        plain.evaluate(x.clone(), t.clone(), &context),
        CoreError::InvalidConfig { .. },
        "condition.context"
    );

    // Configurations.
    let cases = [
        (plain_config(2).with_cross_attention_dim(Some(4)), "cross_attention_dim"),
        (cross_config(2).with_cross_attention_dim(Some(0)), "cross_attention_dim"),
        (cross_config(2).with_num_head_channels(Some(3)), "num_head_channels"),
        (cross_config(2).with_num_head_channels(None).with_num_heads(3), "num_heads"),
        (cross_config(2).with_transformer_num_layers(Some(0)), "transformer_num_layers"),
    ];
    for (config, name) in cases {
        assert_err!(config.init(&device), CoreError::InvalidConfig { .. }, name);
    }

    let no_sites = cross_config(2).with_attention_resolutions(vec![]).with_middle_attention(false);
    assert_err!(no_sites.init(&device), CoreError::InvalidConfig { .. }, "cross_attention_dim");

    // ControlNet inputs.
    let (base, controlnet) = controlled(2, &device);
    let net = ControlledUNet::new(base.clone(), controlnet.clone()).unwrap();
    let run = |c: &Condition<4>| net.evaluate(x.clone(), t.clone(), c);
    assert_err!(run(&Condition::none()), CoreError::InvalidConfig { .. }, "condition.control");
    let channels = Condition::none().with_control(Tensor::zeros([2, 2, s, s], &device));
    assert_err!(run(&channels), CoreError::ShapeMismatch { .. }, "condition.control");
    let size = Condition::none().with_control(Tensor::zeros([2, 1, s, 2 * s], &device));
    assert_err!(run(&size), CoreError::ShapeMismatch { .. }, "condition.control");
    assert_err!(
        net.clone().with_conditioning_scale(f64::NAN),
        CoreError::InvalidConfig { .. },
        "conditioning_scale"
    );
    let wider = seeded(&device, 0, |d| plain_config(2).with_base_channels(16).init(d));
    assert_err!(
        ControlledUNet::new(wider, controlnet.clone()),
        CoreError::InvalidConfig { .. },
        "controlnet"
    );
    assert_err!(
        ControlNetConfig::new(0).init_from_unet(&base, &device),
        CoreError::InvalidConfig { .. },
        "conditioning_embedding_in_channels"
    );
    assert_err!(
        ControlNetConfig::new(1)
            .with_conditioning_embedding_num_channels(vec![])
            .init_from_unet(&base, &device),
        CoreError::InvalidConfig { .. },
        "conditioning_embedding_num_channels"
    );

    // Residuals handed to the U-Net by hand.
    let control = Condition::none().with_control(Tensor::zeros([2, 1, s, s], &device));
    let residuals = controlnet.forward(x.clone(), t.clone(), &control, 1.0).unwrap();
    let none = Condition::<4>::none();
    let mut fewer = residuals.clone();
    fewer.down.pop();
    assert_err!(
        base.forward_with_control(x.clone(), t.clone(), &none, fewer),
        CoreError::ShapeMismatch { .. },
        "control.down_residuals"
    );
    let mut misshapen = residuals.clone();
    misshapen.down[1] = Tensor::zeros([2, 8, s, 2 * s], &device);
    assert_err!(
        base.forward_with_control(x.clone(), t.clone(), &none, misshapen),
        CoreError::ShapeMismatch { .. },
        "control.down_residuals[1]"
    );
    let bad_mid = ControlResiduals { mid: Tensor::zeros([2, 16, 1, 1], &device), ..residuals };
    assert_err!(
        base.forward_with_control(x, t, &none, bad_mid),
        CoreError::ShapeMismatch { .. },
        "control.mid_residual"
    );
}
