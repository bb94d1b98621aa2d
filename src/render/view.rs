//! The egui plumbing shared by every primitive: per-view buffers kept in egui-wgpu's
//! `callback_resources`, and the paint callback that prepares and draws them.
//!
//! A primitive module describes itself once through [`Primitive`]; [`install`], [`forget`]
//! and [`callback`] then do the rest for it.

use std::collections::HashMap;

use eframe::{egui, egui_wgpu, wgpu};

use super::{DataRect, ViewTransform};

/// One kind of plot primitive (points, segments, …) as the paint callbacks see it: its layer,
/// pipeline and per-view buffer types, and the functions that build, prepare and paint them
/// (the primitive's own `XxxPipeline::new`, `XxxBuffers::prepare` and `XxxBuffers::paint`).
///
/// Layers, pipelines and buffers are `Send + Sync` because egui-wgpu keeps callbacks and
/// callback resources behind locks shared between threads.
pub(crate) trait Primitive: 'static {
    /// The primitive's name in messages ("points", "segments", …).
    const NAME: &'static str;
    /// What one callback draws, in order: the primitive's layer type.
    type Layer: Send + Sync + 'static;
    /// The render pipeline, built once per device and target format.
    type Pipeline: Send + Sync + 'static;
    /// The GPU buffers of one view's layers, reused across frames.
    type Buffers: Default + Send + Sync + 'static;
    /// Builds the pipeline for render targets of a format.
    const NEW_PIPELINE: NewPipeline<Self>;
    /// Uploads what changed in the layers into one view's buffers, drawn with a transform.
    const PREPARE: Prepare<Self>;
    /// Draws one view's buffers into a render pass.
    const PAINT: Paint<Self>;
}

/// The signature of [`Primitive::NEW_PIPELINE`].
pub(crate) type NewPipeline<P> =
    fn(&wgpu::Device, wgpu::TextureFormat) -> <P as Primitive>::Pipeline;

/// The signature of [`Primitive::PREPARE`]: buffers, device, queue, pipeline, transform, layers.
pub(crate) type Prepare<P> = fn(
    &mut <P as Primitive>::Buffers,
    &wgpu::Device,
    &wgpu::Queue,
    &<P as Primitive>::Pipeline,
    &ViewTransform,
    &[<P as Primitive>::Layer],
);

/// The signature of [`Primitive::PAINT`]: buffers, render pass, pipeline.
pub(crate) type Paint<P> =
    fn(&<P as Primitive>::Buffers, &mut wgpu::RenderPass<'_>, &<P as Primitive>::Pipeline);

/// A primitive's pipeline and every view's buffers, kept in egui-wgpu's `callback_resources`.
struct Resources<P: Primitive> {
    /// The pipeline, built by [`install`].
    pipeline: P::Pipeline,
    /// Buffers per view id.
    views: HashMap<u64, P::Buffers>,
}

/// Builds `P`'s pipeline and stores it in egui-wgpu's callback resources, replacing the one
/// stored before (and dropping every view's buffers).
pub(crate) fn install<P: Primitive>(render_state: &egui_wgpu::RenderState) {
    let resources = Resources::<P> {
        pipeline: (P::NEW_PIPELINE)(&render_state.device, render_state.target_format),
        views: HashMap::new(),
    };
    render_state
        .renderer
        .write()
        .callback_resources
        .insert(resources);
}

/// Drops `P`'s buffers of view `view_id`, if any.
pub(crate) fn forget<P: Primitive>(resources: &mut egui_wgpu::CallbackResources, view_id: u64) {
    if let Some(resources) = resources.get_mut::<Resources<P>>() {
        resources.views.remove(&view_id);
    }
}

/// The per-frame paint callback of primitive `P`: plain data only.
struct ViewCallback<P: Primitive> {
    rect: egui::Rect,
    view_id: u64,
    bounds: DataRect,
    layers: Vec<P::Layer>,
}

impl<P: Primitive> egui_wgpu::CallbackTrait for ViewCallback<P> {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        screen: &egui_wgpu::ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let Some(resources) = resources.get_mut::<Resources<P>>() else {
            super::util::warn_missing_resources(P::NAME);
            return Vec::new();
        };
        let Some(view) = ViewTransform::for_callback(
            self.bounds,
            self.rect,
            screen.pixels_per_point,
            screen.size_in_pixels,
        ) else {
            return Vec::new();
        };
        let Resources { pipeline, views } = resources;
        let buffers = views.entry(self.view_id).or_default();
        (P::PREPARE)(buffers, device, queue, pipeline, &view, &self.layers);
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        let Some(resources) = resources.get::<Resources<P>>() else {
            return;
        };
        if let Some(buffers) = resources.views.get(&self.view_id) {
            (P::PAINT)(buffers, pass, &resources.pipeline);
        }
    }
}

/// A paint callback drawing `layers` of primitive `P` (in order) into `rect`, which shows
/// `bounds` of data space, with the buffers of view `view_id`.
pub(crate) fn callback<P: Primitive>(
    rect: egui::Rect,
    view_id: u64,
    bounds: DataRect,
    layers: Vec<P::Layer>,
) -> egui::PaintCallback {
    egui_wgpu::Callback::new_paint_callback(
        rect,
        ViewCallback::<P> {
            rect,
            view_id,
            bounds,
            layers,
        },
    )
}
