//! The running interpreter, compared with the layout compiled in: the one
//! place that reads `_PyRuntime` (3.7+) and, on 3.13+, the interpreter's
//! own `_Py_DebugOffsets` table at its start.

use super::{
    DebugOffsetCheck, Layout, DEBUG_COOKIE, DEBUG_FREE_THREADED_AT, DEBUG_VERSION_AT, LAYOUT,
    VERSION,
};

/// The one layout of this build, as a value with a fixed address.
static CHOSEN: Layout = LAYOUT;

/// The layout the frame walker reads, once it is known to describe the
/// running interpreter ([`check_running_interpreter`]). Reached through
/// `ffi::gil::Gil::layout`: nothing reads frames without it.
pub(crate) fn layout() -> Result<&'static Layout, String> {
    check_running_interpreter().map(|()| &CHOSEN)
}

/// 3.13+: compares every offset this build relies on with the running
/// interpreter's own `_Py_DebugOffsets`, so that a patch release that
/// moves a field makes us refuse to profile rather than read the wrong
/// memory: both samplers walk frames with the same layout, so neither
/// mode may start. Earlier versions publish no such table. Checked once;
/// the answer is kept.
pub fn check_running_interpreter() -> Result<(), String> {
    static CHECKED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    CHECKED
        .get_or_init(|| check_debug_offsets(LAYOUT.debug_offsets))
        .clone()
}

/// [`check_running_interpreter`] with the given expectations (tests make
/// one wrong on purpose). `_PyRuntime`'s table is initialised statically:
/// this works before Python starts.
pub fn check_debug_offsets(checks: &[DebugOffsetCheck]) -> Result<(), String> {
    if checks.is_empty() {
        return Ok(());
    }
    let base = runtime_state()?;
    // _PyRuntime is a static of libpython: every byte of it is mapped.
    let read_u64 = |at: usize| unsafe { std::ptr::read_unaligned(base.add(at) as *const u64) };
    let cookie = unsafe { std::slice::from_raw_parts(base, DEBUG_COOKIE.len()) };
    if cookie != DEBUG_COOKIE {
        return Err("the interpreter publishes no _Py_DebugOffsets table".to_string());
    }
    let version = read_u64(DEBUG_VERSION_AT);
    let running = ((version >> 24) as u32, ((version >> 16) & 0xff) as u32);
    if running != VERSION {
        return Err(format!(
            "the running interpreter is {}.{}, this build reads {}.{}",
            running.0, running.1, VERSION.0, VERSION.1
        ));
    }
    if read_u64(DEBUG_FREE_THREADED_AT) != 0 {
        return Err("the running interpreter is a free-threaded build".to_string());
    }
    let moved: Vec<String> = checks
        .iter()
        .filter_map(|check| {
            let actual = read_u64(check.at);
            (actual != check.expected as u64)
                .then(|| format!("{} is {actual}, not {}", check.name, check.expected))
        })
        .collect();
    if moved.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "this interpreter's layout differs from the one pyinstrument was built for ({})",
            moved.join("; ")
        ))
    }
}

/// `&_PyRuntime`, exported by CPython 3.7+.
#[cfg(not(any(py_2_7, py_3_6)))]
pub(crate) fn runtime_state() -> Result<*const u8, String> {
    extern "C" {
        static _PyRuntime: u8;
    }
    Ok(std::ptr::addr_of!(_PyRuntime))
}

#[cfg(any(py_2_7, py_3_6))]
pub(crate) fn runtime_state() -> Result<*const u8, String> {
    Err("this Python has no _PyRuntime".to_string())
}
