//! The shell around the modes: notices, native file dialogs on their own thread, PNG export of
//! the central view, the theme, and the requests one mode makes of another.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use eframe::egui;

use crate::sync::lock;

/// What a native file dialog is opened for; the app hands the choice to the mode that asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilePurpose {
    /// Explorer: a checkpoint directory to load.
    OpenCheckpoint,
    /// Explorer: a point file to train on.
    OpenData,
    /// Explorer: where to save the current weights.
    SaveCheckpoint,
    /// Explorer: where to export the view as PNG.
    ExportPng,
    /// Images: the U-Net to open.
    OpenUNet,
    /// Images: a U-Net directory (diffusers model or pipeline, or `train-unet` output).
    OpenUNetFolder,
    /// Images: where to export the neighbour grid.
    ExportNnGrid,
}

impl FilePurpose {
    /// The dialog for this purpose, `file_name` suggested where it saves.
    fn dialog(self, d: rfd::FileDialog, file_name: String) -> Option<PathBuf> {
        match self {
            Self::OpenCheckpoint => d.set_title("Open a checkpoint directory").pick_folder(),
            Self::OpenData => d
                .set_title("Train on points (.npy, CSV) or a picture to trace (PNG, JPEG)")
                .add_filter(
                    "points or picture",
                    &["npy", "csv", "txt", "png", "jpg", "jpeg"],
                )
                .pick_file(),
            Self::SaveCheckpoint => d
                .set_title("Save the checkpoint as (a directory)")
                .set_file_name(file_name)
                .save_file(),
            Self::ExportPng => d
                .set_title("Export the view as PNG")
                .add_filter("PNG image", &["png"])
                .set_file_name(file_name)
                .save_file(),
            Self::OpenUNet => d
                .set_title(
                    "Open a U-Net (a train-unet file, a score_sde .pth, a diffusers config.json)",
                )
                .add_filter(
                    "U-Net weights or config",
                    &["safetensors", "pth", "pt", "ckpt", "json"],
                )
                .pick_file(),
            Self::OpenUNetFolder => d
                .set_title("Open a U-Net directory (diffusers model or pipeline, or train-unet)")
                .pick_folder(),
            Self::ExportNnGrid => d
                .set_title("Export the neighbour grid as PNG")
                .add_filter("PNG image", &["png"])
                .set_file_name(file_name)
                .save_file(),
        }
    }
}

/// What one mode asks of another, carried out by the app after the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// An image study starts: pause 2D training (both want every core).
    PauseTraining,
}

/// A file dialog running on its own thread (so the UI keeps drawing while it is open) and the
/// slot its choice arrives in: `Some(None)` when it was closed without a choice.
struct PendingDialog {
    purpose: FilePurpose,
    choice: Arc<Mutex<Option<Option<PathBuf>>>>,
}

/// Where a PNG export's outcome arrives (file name or error) from the screenshot callback.
type ExportSlot = Arc<Mutex<Option<Result<String, String>>>>;

/// How long a notice stays.
const NOTICE: Duration = Duration::from_secs(6);

/// The shell's state.
pub struct Shell {
    /// Dark theme.
    pub dark: bool,
    /// The central panel's rectangle in the last frame (what "Export view" writes).
    pub central_rect: egui::Rect,
    /// Presentation mode: larger text, the side and status panels folded (for a projector).
    pub presenting: bool,
    notice: Option<(String, Instant)>,
    export: Option<ExportSlot>,
    dialog: Option<PendingDialog>,
    requests: Vec<Request>,
}

/// The key that toggles presentation mode.
pub const PRESENT_KEY: egui::Key = egui::Key::F5;
/// How much larger everything is drawn while presenting.
pub const PRESENT_ZOOM: f32 = 1.5;

impl Shell {
    /// A shell with the given theme, applied to `ctx`.
    pub fn new(ctx: &egui::Context, dark: bool) -> Self {
        let shell = Self {
            dark,
            central_rect: egui::Rect::NOTHING,
            presenting: false,
            notice: None,
            export: None,
            dialog: None,
            requests: Vec::new(),
        };
        shell.apply_theme(ctx);
        shell
    }

    fn apply_theme(&self, ctx: &egui::Context) {
        ctx.set_visuals(if self.dark {
            egui::Visuals::dark()
        } else {
            egui::Visuals::light()
        });
    }

    /// A button that switches between the dark and the light theme.
    pub fn theme_button(&mut self, ui: &mut egui::Ui) {
        let label = if self.dark {
            "Light theme"
        } else {
            "Dark theme"
        };
        if ui.button(label).clicked() {
            self.dark = !self.dark;
            self.apply_theme(ui.ctx());
        }
    }

    /// Toggles presentation mode when [`PRESENT_KEY`] was pressed this frame (or `clicked`),
    /// zooming the whole window by [`PRESENT_ZOOM`]; returns whether it toggled.
    pub fn update_presentation(&mut self, ctx: &egui::Context, clicked: bool) -> bool {
        let pressed = ctx.input(|i| i.key_pressed(PRESENT_KEY));
        if !(pressed || clicked) {
            return false;
        }
        self.presenting = !self.presenting;
        ctx.set_zoom_factor(if self.presenting { PRESENT_ZOOM } else { 1.0 });
        self.notify(if self.presenting {
            "presentation mode: F5 to leave"
        } else {
            "presentation mode off"
        });
        true
    }

    /// Shows `msg` for a few seconds.
    pub fn notify(&mut self, msg: &str) {
        self.notice = Some((msg.to_string(), Instant::now()));
    }

    /// Drops the notice (tests that render at a fixed moment: a notice lasts a set time).
    #[cfg(test)]
    pub(crate) fn clear_notice(&mut self) {
        self.notice = None;
    }

    /// The notice, while it is recent.
    pub fn recent_notice(&self) -> Option<&str> {
        self.notice
            .as_ref()
            .filter(|(_, at)| at.elapsed() < NOTICE)
            .map(|(msg, _)| msg.as_str())
    }

    /// Says how a PNG export went (the file's name or the error).
    pub fn notify_export(&mut self, outcome: Result<String, String>) {
        match outcome {
            Ok(name) => self.notify(&format!("exported {name}")),
            Err(e) => self.notify(&format!("export failed: {e}")),
        }
    }

    /// Asks the app for something another mode does.
    pub fn request(&mut self, r: Request) {
        self.requests.push(r);
    }

    /// The requests made since the last call.
    pub fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.requests)
    }

    /// True while no file dialog is open.
    pub fn dialog_idle(&self) -> bool {
        self.dialog.is_none()
    }

    /// Opens a native file dialog (rfd) on its own thread, starting in `near`'s directory (or
    /// the working directory) and suggesting `file_name` where it saves; the choice comes back
    /// from [`Self::poll_dialog`]. Where no dialog service exists (no xdg-desktop-portal, as
    /// under a bare Xvfb) it returns no choice and typed paths still work.
    pub fn open_dialog(
        &mut self,
        purpose: FilePurpose,
        ctx: &egui::Context,
        near: &Path,
        file_name: String,
    ) {
        let choice = Arc::new(Mutex::new(None));
        let out = choice.clone();
        let repaint = ctx.clone();
        let start_dir = near
            .parent()
            .filter(|p| p.is_dir())
            .map(Path::to_path_buf)
            .or_else(|| std::env::current_dir().ok());
        let spawned = std::thread::Builder::new()
            .name("file-dialog".into())
            .spawn(move || {
                let mut d = rfd::FileDialog::new();
                if let Some(dir) = start_dir {
                    d = d.set_directory(dir);
                }
                let picked = purpose.dialog(d, file_name);
                *lock(&out) = Some(picked);
                repaint.request_repaint();
            });
        match spawned {
            Ok(_) => self.dialog = Some(PendingDialog { purpose, choice }),
            Err(e) => self.notify(&format!("could not open a file dialog: {e}")),
        }
    }

    /// A file dialog's choice once it arrives (a notice says so when none was made).
    pub fn poll_dialog(&mut self) -> Option<(FilePurpose, PathBuf)> {
        let pending = self.dialog.as_ref()?;
        let choice = lock(&pending.choice).take()?;
        let purpose = pending.purpose;
        self.dialog = None;
        match choice {
            Some(path) => Some((purpose, path)),
            None => {
                self.notify(
                    "no file chosen (if no dialog appeared, no xdg-desktop-portal is running: \
                     type the path instead)",
                );
                None
            }
        }
    }

    /// Exports the central view as PNG at `path` (from the next frame's screenshot).
    pub fn request_export(&mut self, ctx: &egui::Context, path: PathBuf) {
        let slot = Arc::new(Mutex::new(None));
        let out = slot.clone();
        let rect = self.central_rect;
        let ppp = ctx.pixels_per_point();
        let name = path.display().to_string();
        let repaint = ctx.clone();
        ctx.request_screenshot(move |image| {
            let region = image.region(&rect, Some(ppp));
            let r = write_png(&path, &region)
                .map(|()| name.clone())
                .map_err(|e| format!("{e:#}"));
            *lock(&out) = Some(r);
            repaint.request_repaint();
        });
        self.export = Some(slot);
    }

    /// Reports a finished export; call every frame.
    pub fn poll_export(&mut self) {
        let done = self.export.as_ref().and_then(|slot| lock(slot).take());
        if let Some(r) = done {
            self.export = None;
            self.notify_export(r);
        }
    }
}

/// True when an image is (nearly) one colour: nothing was drawn.
pub fn is_blank(image: &egui::ColorImage) -> bool {
    let mut seen = std::collections::HashSet::new();
    for p in image.pixels.iter().step_by(7) {
        seen.insert(p.to_array());
        if seen.len() > 64 {
            return false;
        }
    }
    true
}

/// Writes an egui image as an RGBA PNG.
pub fn write_png(path: &Path, image: &egui::ColorImage) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut enc = png::Encoder::new(
        std::io::BufWriter::new(file),
        image.size[0] as u32,
        image.size[1] as u32,
    );
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header()?;
    let bytes: Vec<u8> = image
        .pixels
        .iter()
        .flat_map(|c| c.to_srgba_unmultiplied())
        .collect();
    w.write_image_data(&bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// F5, as a key event in a frame's input, turns presentation mode on (zoom 1.5) and, in a
    /// later frame, off again; frames without it change nothing.
    #[test]
    fn f5_toggles_presentation_mode() {
        let ctx = egui::Context::default();
        let mut shell = Shell::new(&ctx, true);
        let key = |pressed| egui::Event::Key {
            key: PRESENT_KEY,
            physical_key: None,
            pressed,
            repeat: false,
            modifiers: egui::Modifiers::NONE,
        };
        let frame = |events: Vec<egui::Event>, shell: &mut Shell| {
            let input = egui::RawInput {
                events,
                ..Default::default()
            };
            let mut toggled = false;
            let _ = ctx.run_ui(input, |ui| {
                toggled = shell.update_presentation(ui.ctx(), false)
            });
            toggled
        };
        assert!(!frame(vec![], &mut shell));
        assert!(!shell.presenting);
        assert!(frame(vec![key(true)], &mut shell));
        assert!(shell.presenting);
        // The zoom takes effect from the next frame on.
        assert!(
            !frame(vec![key(false)], &mut shell),
            "a release does not toggle"
        );
        assert_eq!(ctx.zoom_factor(), PRESENT_ZOOM);
        assert!(frame(vec![key(true)], &mut shell));
        assert!(!shell.presenting);
        frame(vec![], &mut shell);
        assert_eq!(ctx.zoom_factor(), 1.0);
    }

    #[test]
    fn a_one_colour_image_is_blank_and_a_gradient_is_not() {
        let flat = egui::ColorImage::new([64, 64], vec![egui::Color32::from_gray(20); 64 * 64]);
        assert!(is_blank(&flat));
        let pixels = (0..64 * 64)
            .map(|i| egui::Color32::from_rgb((i % 64 * 4) as u8, (i / 64 * 4) as u8, 0))
            .collect();
        assert!(!is_blank(&egui::ColorImage::new([64, 64], pixels)));
    }

    #[test]
    fn requests_are_taken_once() {
        let ctx = egui::Context::default();
        let mut shell = Shell::new(&ctx, true);
        shell.request(Request::PauseTraining);
        assert_eq!(shell.take_requests(), vec![Request::PauseTraining]);
        assert!(shell.take_requests().is_empty());
        shell.notify("hello");
        assert_eq!(shell.recent_notice(), Some("hello"));
    }

    #[test]
    fn an_exported_png_has_the_image_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.png");
        let img = egui::ColorImage::new([5, 3], vec![egui::Color32::RED; 15]);
        write_png(&path, &img).unwrap();
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let info = decoder.read_info().unwrap().info().clone();
        assert_eq!((info.width, info.height), (5, 3));
    }
}
