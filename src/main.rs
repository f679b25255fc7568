// mimalloc instead of glibc malloc: glibc trims and regrows the heap between training
// steps, which moved timings 2-8x here (numbers in the README's dependency section).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's option setter (linked in by the `mimalloc` crate).
    fn mi_option_set(option: i32, value: std::os::raw::c_long);
}

fn main() {
    // Keep freed memory mapped (option 15 = mi_option_purge_delay, -1 = never purge): by
    // default mimalloc returns freed pages to the OS after 10 ms, so every large activation of
    // the next training step page-faults into freshly zeroed pages (measured: 38,667 -> 870
    // faults per engine-bench run; `clear_page_erms` was 11-30% of the profile).
    // SAFETY: sets a process-wide allocator option; valid at any time.
    unsafe { mi_option_set(15, -1) };
    probegan::init();
    std::process::exit(probegan::cli::main());
}
