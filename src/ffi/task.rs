//! What the kernel says of a thread, read without allocating (the
//! samplers read it with locks held): its `/proc/self/task/TID/stat`, when
//! it was created, its id inside its CPU clock id, and that clock.

use std::ffi::c_void;

/// The start of `/proc/self/task/TID/stat` (`stat_path`) read into
/// `buffer`, without allocating; None if it cannot be read (the thread is
/// gone). Opened afresh each time, so that a program closing every file
/// descriptor can never make us read another file.
pub fn read_task_stat<'b>(
    stat_path: &std::ffi::CStr,
    buffer: &'b mut [u8; 512],
) -> Option<&'b [u8]> {
    let read = unsafe {
        let fd = libc::open(stat_path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let read = libc::read(fd, buffer.as_mut_ptr() as *mut c_void, buffer.len());
        libc::close(fd);
        read
    };
    (read > 0).then(|| &buffer[..read as usize])
}

/// `/proc/self/task/TID/stat`, written into `buffer`: no allocation (the
/// GIL's mutex is held).
pub fn stat_path(buffer: &mut [u8; 48], tid: libc::pid_t) -> &std::ffi::CStr {
    let mut digits = [0u8; 12];
    let (mut n, mut len) = (tid.unsigned_abs(), 0);
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        buffer[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(b"/proc/self/task/");
    for i in (0..len).rev() {
        put(&digits[i..i + 1]);
    }
    put(b"/stat\0");
    std::ffi::CStr::from_bytes_until_nul(&buffer[..]).unwrap_or(c"/proc/self/task/0/stat")
}

/// When the kernel created thread `tid`, on the monotonic clock: field 22
/// of `/proc/self/task/TID/stat` (clock ticks since boot, so to 10 ms at
/// worst), moved from the boot-time clock. None if it cannot be read. No
/// allocation (the walk's locks are held).
pub fn thread_start_ns(tid: libc::pid_t, clock_ticks: u64) -> Option<u64> {
    let mut path = [0u8; 48];
    let path = stat_path(&mut path, tid);
    let mut buffer = [0u8; 512];
    let ticks = start_ticks(read_task_stat(path, &mut buffer)?)?;
    let clock = |id| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        (unsafe { libc::clock_gettime(id, &mut ts) } == 0)
            .then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
    };
    let boot = clock(libc::CLOCK_BOOTTIME)?;
    let monotonic = clock(libc::CLOCK_MONOTONIC)?;
    let started_boot = ticks.checked_mul(1_000_000_000 / clock_ticks.max(1))?;
    // How long ago it started, on either clock.
    let ago = boot.saturating_sub(started_boot);
    Some(monotonic.saturating_sub(ago))
}

/// Field 22 (`starttime`) of a stat line: the 20th after the command name,
/// which is in parentheses and may hold any byte.
pub fn start_ticks(stat: &[u8]) -> Option<u64> {
    let end = stat.iter().rposition(|&b| b == b')')?;
    let field = stat[end + 1..]
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty())
        .nth(19)?;
    let mut value: u64 = 0;
    for &digit in field {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add((digit - b'0') as u64)?;
    }
    Some(value)
}

pub fn read_clock(clock: libc::clockid_t) -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// The kernel thread id inside a thread CPU clock id (Linux's
/// `MAKE_THREAD_CPUCLOCK`: `~tid << 3 | CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED`,
/// what glibc's `pthread_getcpuclockid` returns).
pub fn tid_of_clock(clock: libc::clockid_t) -> libc::pid_t {
    !(clock >> 3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::stack::monotonic_ns;

    #[test]
    fn the_stat_path_is_written_without_allocating() {
        let mut buffer = [0u8; 48];
        assert_eq!(
            stat_path(&mut buffer, 1234567).to_bytes(),
            b"/proc/self/task/1234567/stat"
        );
        assert_eq!(
            stat_path(&mut buffer, 0).to_bytes(),
            b"/proc/self/task/0/stat"
        );
    }

    #[test]
    fn a_threads_start_is_read_from_proc() {
        let line = b"12 (a) b) R 1 12 12 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 3 0 4242 1000 ";
        assert_eq!(start_ticks(line), Some(4242));
        assert_eq!(start_ticks(b"garbage"), None);
        // This thread started before now, and not long before (the test
        // process is young).
        let now = monotonic_ns();
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        let started = thread_start_ns(unsafe { libc::gettid() }, ticks).unwrap();
        assert!(started <= now + 20_000_000, "{started} > {now}");
        assert!(now - started.min(now) < 600_000_000_000);
        // A thread made now starts now (to the clock tick).
        let (sender, receiver) = std::sync::mpsc::channel();
        let before = monotonic_ns();
        std::thread::spawn(move || sender.send(unsafe { libc::gettid() }).unwrap());
        let tid = receiver.recv().unwrap();
        // It may have ended already: then there is nothing to read.
        if let Some(started) = thread_start_ns(tid, ticks) {
            assert!(
                started + 20_000_000 >= before && started <= monotonic_ns() + 20_000_000,
                "started {started}, before {before}"
            );
        }
    }

    #[test]
    fn the_thread_id_is_read_back_from_its_cpu_clock() {
        let mut clock: libc::clockid_t = 0;
        let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
        assert_eq!(rc, 0);
        assert_eq!(tid_of_clock(clock), unsafe { libc::gettid() });
    }
}
