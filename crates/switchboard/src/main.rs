/// mimalloc instead of glibc's malloc: allocation was a quarter of the CPU in the ingest
/// benchmark's profile (glibc's arena locks and consolidation under many small allocations).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    switchboard::cli::main()
}
