//! The signal environment python starts programs in, restored before the
//! runner starts Python.
//!
//! Rust's runtime prepares `main` for stack-overflow reports: an 8 KiB
//! alternate signal stack and SIGSEGV/SIGBUS handlers that use it. python
//! has neither, and a program can tell: `signal.getsignal(SIGSEGV)` says a
//! handler is installed, and CPython installs its own handlers with
//! `SA_ONSTACK`, so a program's handler ran on that small stack, where a
//! second signal arriving on top of it overflowed it (a SIGSEGV about once
//! in a hundred runs of a program flooded with its own signal). Without
//! them, a stack overflow in our own code is a plain SIGSEGV, as in C.

/// Removes the calling thread's alternate signal stack and gives SIGSEGV
/// and SIGBUS back their default action if Rust's runtime installed a
/// handler (it does so only where the action was the default). Call first
/// thing in `main`, before Python or any other thread starts.
pub fn restore_python_signal_environment() {
    unsafe {
        let disable = libc::stack_t {
            ss_sp: std::ptr::null_mut(),
            ss_flags: libc::SS_DISABLE,
            ss_size: 0,
        };
        libc::sigaltstack(&disable, std::ptr::null_mut());
        for signal in [libc::SIGSEGV, libc::SIGBUS] {
            let mut current: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut current);
            if current.sa_sigaction != libc::SIG_DFL && current.sa_sigaction != libc::SIG_IGN {
                libc::signal(signal, libc::SIG_DFL);
            }
        }
    }
}
