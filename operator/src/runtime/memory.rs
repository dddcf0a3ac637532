//! Returning freed memory to the system. glibc's allocator keeps what a pass frees for
//! later (one arena per thread that ever allocated, up to 8 per core), so a pass over a
//! Service of thousands of tasks would leave the process resident at its peak for good.
//! The operator uses two arenas and hands back free pages every few seconds.
use std::time::Duration;

/// How often free pages go back to the system.
const RELEASE_EVERY: Duration = Duration::from_secs(5);

/// Limits the allocator's arenas and starts releasing free pages (glibc only; other
/// allocators are left as they are).
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt and malloc_trim have no preconditions; both are thread-safe.
        unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
        tokio::spawn(async {
            let mut every = tokio::time::interval(RELEASE_EVERY);
            loop {
                every.tick().await;
                unsafe { libc::malloc_trim(0) };
            }
        });
    }
}
