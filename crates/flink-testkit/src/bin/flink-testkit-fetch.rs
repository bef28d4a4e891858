//! Fetches every Flink version of the test matrix into the cache, in parallel, before the tests
//! run: on a fresh CI machine the tests then never hold a slot of the `flink` test group while
//! downloading. Versions already cached are skipped (the cache's lock makes this safe next to
//! running tests).

use std::time::Instant;

fn main() {
    let started = Instant::now();
    let fetches: Vec<_> = flink_testkit::MATRIX_VERSIONS
        .iter()
        .map(|version| {
            std::thread::spawn(move || {
                let t = Instant::now();
                let dist = flink_testkit::FlinkDist::get(version);
                println!(
                    "Flink {version}: {} ({:.1} s)",
                    dist.home().display(),
                    t.elapsed().as_secs_f64()
                );
            })
        })
        .collect();
    let failed = fetches
        .into_iter()
        .map(std::thread::JoinHandle::join)
        .filter(Result::is_err)
        .count();
    println!(
        "fetched {} versions in {:.1} s",
        flink_testkit::MATRIX_VERSIONS.len() - failed,
        started.elapsed().as_secs_f64()
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
