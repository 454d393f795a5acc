//! The runtime floor: the least an HTTP/1.1 keep-alive server on monoio can do per request
//! (read, find the end of the head, write a fixed response), with the same ring flags as
//! campushub. `scripts/bench-engine` measures it beside the real server so the engine's
//! overhead over the floor is visible. Not a server: no parsing, no limits, no errors.
//!
//!     cargo run --release -p campushub-bench --example floor -- 127.0.0.1:18099 [defer|coop]

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nDate: Sun, 22 Nov 2026 13:46:49 GMT\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:18099".into());
    let defer = args.get(2).is_none_or(|m| m != "coop");
    let mut uring = io_uring::IoUring::builder();
    if defer {
        uring.setup_single_issuer().setup_defer_taskrun();
    } else {
        uring.setup_coop_taskrun().setup_taskrun_flag();
    }
    let rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .with_entries(1024)
        .uring_builder(uring)
        .enable_timer()
        .build();
    let Ok(mut rt) = rt else {
        eprintln!("error: could not build the runtime");
        std::process::exit(1);
    };
    rt.block_on(async move {
        let Ok(listener) = monoio::net::TcpListener::bind(addr.as_str()) else {
            eprintln!("error: cannot listen on {addr}");
            std::process::exit(1);
        };
        eprintln!("floor listening on {addr}");
        while let Ok((mut stream, _)) = listener.accept().await {
            monoio::spawn(async move {
                let mut buf = Vec::with_capacity(4096);
                let mut out = Vec::with_capacity(4096);
                loop {
                    let (res, b) = stream.read(buf).await;
                    buf = b;
                    match res {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let n = memchr::memmem::find_iter(&buf, b"\r\n\r\n").count();
                    buf.clear();
                    for _ in 0..n {
                        out.extend_from_slice(RESPONSE);
                    }
                    let (res, o) = stream.write_all(out).await;
                    out = o;
                    out.clear();
                    if res.is_err() {
                        return;
                    }
                }
            });
        }
    });
}
