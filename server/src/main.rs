//! The `campushub` binary: parse the command line, call the library, exit with its status.

use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(campushub::cli::run(&args));
}
