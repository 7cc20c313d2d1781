//! The segmenter configuration shared by the API and bad-input suites of `medgen-seg`.

use medgen_sdf::SdfConfig;
use medgen_seg::SdfSegmenterConfig;

/// A tiny segmenter configuration: one image channel, one class, one U-Net level of 8
/// channels, SDFs truncated at 2 pixels.
pub(crate) fn tiny_config() -> SdfSegmenterConfig {
    SdfSegmenterConfig::new(1, 1)
        .with_sdf(SdfConfig::truncated_normalized(2.0))
        .with_base_channels(8)
        .with_channel_mults(vec![1])
        .with_num_res_blocks(1)
        .with_attention_resolutions(vec![])
        .with_groups(4)
}
