// mimalloc instead of glibc malloc: glibc trims and regrows the heap between training
// steps, which moved timings 2-8x here (numbers in the README's dependency section).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    probegan::allocator::keep_freed_memory_mapped();
    probegan::init();
    std::process::exit(probegan::cli::main());
}
