//! A count of code objects freed so far, readable from a signal handler.
//!
//! Why: the recorder keeps the frames of the last stack it recorded, keyed
//! by code object address, and must never take a new code object that
//! reuses a freed one's address for the old one. Proving that by reading
//! the code object's name and file strings on every sample costs a cache
//! miss per frame. If no code object has been freed since a frame was last
//! proven, the code object at that address is still the same object, and so
//! are its (immutable) name and file: the strings need not be read at all.
//!
//! How: `PyCode_Type.tp_dealloc` is wrapped, once, by a function that bumps
//! the count and calls the original. Every code object, including those
//! created before the wrap, is freed through its type's `tp_dealloc` (the
//! slot is looked up at each deallocation), so no free escapes the count.
//! The wrap stays for the life of the process: unwrapping could race with
//! another extension that wrapped the slot after us. The count is bumped
//! before the memory is freed, and a new code object can only reach the
//! profiled thread's stack after that thread ran Python again (taking the
//! GIL, which orders it after the bump), so a sample that reads an
//! unchanged count cannot be looking at a reused address.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Once;

static FREED: AtomicU64 = AtomicU64::new(0);
static ORIGINAL_DEALLOC: AtomicUsize = AtomicUsize::new(0);
static WRAP: Once = Once::new();

unsafe extern "C" fn counting_dealloc(object: *mut super::py::PyObject) {
    FREED.fetch_add(1, SeqCst);
    let original: unsafe extern "C" fn(*mut super::py::PyObject) =
        std::mem::transmute(ORIGINAL_DEALLOC.load(SeqCst));
    original(object);
}

/// Starts counting code object deallocations (idempotent). Call with the
/// GIL held, before the first sample that relies on [`freed_code_objects`].
pub fn count_code_deallocations() {
    WRAP.call_once(|| unsafe {
        let code_type = std::ptr::addr_of_mut!(super::py::PyCode_Type);
        if let Some(original) = (*code_type).tp_dealloc {
            ORIGINAL_DEALLOC.store(original as usize, SeqCst);
            (*code_type).tp_dealloc = Some(counting_dealloc);
        }
    });
}

/// How many code objects have been freed since counting started; `None`
/// if it has not started (or the type had no `tp_dealloc` to wrap), in
/// which case nothing may be concluded from it. Signal safe.
pub fn freed_code_objects() -> Option<u64> {
    if ORIGINAL_DEALLOC.load(SeqCst) == 0 {
        return None;
    }
    Some(FREED.load(SeqCst))
}
