//! Random bytes from the operating system, fetched in blocks.
//!
//! Sealing one customer takes a dozen nonces and keys; one `getrandom`
//! system call per value cost more than the encryption itself. Each thread
//! keeps a small block of OS randomness and hands out each byte once. The
//! block is zeroed as it is consumed, and discarded in a forked child (a
//! `pthread_atfork` handler bumps a generation counter), so a child never
//! repeats its parent's bytes.

use std::cell::RefCell;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroize;

use crate::error::{Error, Result};

const BLOCK: usize = 1024;

struct Pool {
    bytes: [u8; BLOCK],
    used: usize,
    generation: u64,
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { bytes: [0; BLOCK], used: BLOCK, generation: 0 }) };
}

/// Bumped in the child after every `fork`; 0 means "never checked".
static FORK_GENERATION: AtomicU64 = AtomicU64::new(1);
static REGISTER: Once = Once::new();

#[cfg(unix)]
mod fork {
    use std::sync::atomic::Ordering;

    unsafe extern "C" {
        fn pthread_atfork(
            prepare: Option<extern "C" fn()>,
            parent: Option<extern "C" fn()>,
            child: Option<extern "C" fn()>,
        ) -> std::ffi::c_int;
    }

    extern "C" fn in_child() {
        super::FORK_GENERATION.fetch_add(1, Ordering::SeqCst);
    }

    /// Registers the child handler; `false` if the system refused.
    pub(super) fn watch() -> bool {
        // SAFETY: registers a handler that only touches an atomic integer,
        // which is async-signal-safe as required after fork.
        unsafe { pthread_atfork(None, None, Some(in_child)) == 0 }
    }
}

#[cfg(not(unix))]
mod fork {
    /// Without fork there is nothing to watch.
    pub(super) fn watch() -> bool {
        true
    }
}

/// The current fork generation, or 0 if forks cannot be detected (then
/// every call goes to the operating system).
fn generation() -> u64 {
    static WATCHED: AtomicBool = AtomicBool::new(false);
    REGISTER.call_once(|| WATCHED.store(fork::watch(), Ordering::SeqCst));
    if WATCHED.load(Ordering::Relaxed) { FORK_GENERATION.load(Ordering::SeqCst) } else { 0 }
}

fn os_fill(out: &mut [u8]) -> Result<()> {
    SystemRandom::new().fill(out).map_err(|_| Error::Crypto("system random number generator failed"))
}

/// Fills `out` with random bytes, each used once.
pub(crate) fn fill(out: &mut [u8]) -> Result<()> {
    let generation = generation();
    if out.len() > BLOCK / 4 || generation == 0 {
        return os_fill(out);
    }
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.generation != generation || pool.used + out.len() > BLOCK {
            os_fill(&mut pool.bytes)?;
            pool.used = 0;
            pool.generation = generation;
        }
        let start = pool.used;
        out.copy_from_slice(&pool.bytes[start..start + out.len()]);
        pool.bytes[start..start + out.len()].zeroize();
        pool.used += out.len();
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_do_not_repeat() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let mut nonce = [0u8; 12];
            fill(&mut nonce).unwrap();
            assert!(seen.insert(nonce), "a 96-bit random value repeated");
        }
        let mut big = [0u8; 600];
        fill(&mut big).unwrap();
        assert!(big.iter().any(|b| *b != 0));
    }

    #[test]
    fn a_fork_discards_the_block() {
        let mut first = [0u8; 16];
        fill(&mut first).unwrap();
        let before = POOL.with(|p| p.borrow().used);
        assert!(before > 0 && before < BLOCK);
        // What the atfork child handler does.
        FORK_GENERATION.fetch_add(1, Ordering::SeqCst);
        let mut second = [0u8; 16];
        fill(&mut second).unwrap();
        assert_eq!(POOL.with(|p| p.borrow().used), 16, "a fresh block was fetched after the fork");
        assert_ne!(first, second);
    }
}
