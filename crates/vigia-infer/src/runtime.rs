//! The ONNX Runtime library, loaded once per process.
//!
//! `ort` allows one environment per process and loads the library once; this module owns
//! that environment so every worker and test shares it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::environment::Environment;
use vigia_core::paths;

use crate::config::ExecutionProvider;
use crate::error::{InferError, SETUP_HINT};

/// The ONNX Runtime version the set-up installs and `ort` (API 31) is built for.
pub const ORT_VERSION: &str = "1.31.1";
/// Where the set-up puts the library, relative to the project root.
pub const LOCAL_LIBRARY: &str = ".vigia/onnxruntime/libonnxruntime.so.1.31.1";

static ENV: Mutex<Option<(Environment, PathBuf)>> = Mutex::new(None);

/// Resolves the library path: `explicit`, then `ORT_DYLIB_PATH`, then [`LOCAL_LIBRARY`]
/// in this or a parent directory (or the executable's), then `lib/` beside the
/// executable's directory (the container layout).
pub fn resolve_library(explicit: Option<&Path>) -> Result<PathBuf, InferError> {
    let mut tried = Vec::new();
    if let Some(p) = explicit {
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
        return Err(InferError::RuntimeMissing {
            tried: format!("{} (inference.ort_library)", p.display()),
            hint: SETUP_HINT,
        });
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from) {
        if p.is_file() {
            return Ok(p);
        }
        tried.push(format!("{} (ORT_DYLIB_PATH)", p.display()));
    }
    if let Some(p) = paths::find_upwards(Path::new(LOCAL_LIBRARY)) {
        return Ok(p);
    }
    tried.push(format!(
        "{LOCAL_LIBRARY} in the current directory and its parents"
    ));
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        let p = exe_dir.join("../lib/libonnxruntime.so.1.31.1");
        if p.is_file() {
            return Ok(p);
        }
        tried.push(p.display().to_string());
    }
    Err(InferError::RuntimeMissing {
        tried: tried.join(", "),
        hint: SETUP_HINT,
    })
}

/// Loads the library (first call) and returns the process's environment. Later calls
/// return the same environment whatever `library` says.
pub fn environment(library: Option<&Path>) -> Result<Environment, InferError> {
    let mut guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((env, _)) = guard.as_ref() {
        return Ok(env.clone());
    }
    let path = resolve_library(library)?;
    let env = ort::init_from(&path)
        .map_err(|e| InferError::Runtime {
            path: path.clone(),
            message: e.to_string(),
        })?
        .with_name("vigia")
        .with_telemetry(false)
        .build()
        .map_err(|e| InferError::Runtime {
            path: path.clone(),
            message: e.to_string(),
        })?;
    tracing::info!(library = %path.display(), "ONNX Runtime loaded");
    *guard = Some((env.clone(), path));
    Ok(env)
}

/// ONNX Runtime's build information (version, commit), once the library is loaded.
pub fn build_info() -> Option<String> {
    loaded_library().map(|_| ort::info().to_string())
}

/// The execution providers this build of vigia can ask for, and whether the loaded ONNX
/// Runtime library has each (CPU always; CUDA, TensorRT, OpenVINO with their cargo
/// features).
pub fn providers() -> Vec<(&'static str, bool)> {
    use ort::ep::ExecutionProvider as _;
    #[allow(unused_mut)]
    let mut out = vec![("cpu", ort::ep::CPU::is_available().unwrap_or(false))];
    #[cfg(feature = "cuda")]
    out.push(("cuda", ort::ep::CUDA::is_available().unwrap_or(false)));
    #[cfg(feature = "tensorrt")]
    out.push((
        "tensorrt",
        ort::ep::TensorRT::is_available().unwrap_or(false),
    ));
    #[cfg(feature = "openvino")]
    out.push((
        "openvino",
        ort::ep::OpenVINO::is_available().unwrap_or(false),
    ));
    out
}

/// The library the environment was loaded from, once loaded.
pub fn loaded_library() -> Option<PathBuf> {
    ENV.lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|(_, p)| p.clone())
}

/// The `ort` execution provider list for `provider`, or an error when this build lacks it.
pub fn execution_providers(
    provider: ExecutionProvider,
) -> Result<Vec<ort::ep::ExecutionProviderDispatch>, InferError> {
    match provider {
        ExecutionProvider::Cpu => Ok(Vec::new()),
        #[cfg(feature = "cuda")]
        ExecutionProvider::Cuda => Ok(vec![ort::ep::CUDA::default().build().error_on_failure()]),
        #[cfg(feature = "tensorrt")]
        ExecutionProvider::Tensorrt => Ok(vec![
            ort::ep::TensorRT::default()
                .with_engine_cache(true)
                .build()
                .error_on_failure(),
        ]),
        #[cfg(feature = "openvino")]
        ExecutionProvider::Openvino => Ok(vec![
            ort::ep::OpenVINO::default().build().error_on_failure(),
        ]),
        #[allow(unreachable_patterns)]
        other => Err(InferError::Provider {
            provider: other.as_str(),
            message: format!(
                "vigia was built without the `{}` cargo feature",
                other.as_str()
            ),
        }),
    }
}
