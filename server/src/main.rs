//! The `campushub` binary: parse the command line, call the library, exit with its status.

use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() {
    std::process::exit(campushub::cli::run(std::env::args_os()));
}
