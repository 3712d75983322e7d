//! `gcbridge faults` through the real binary: the whole fault matrix, smaller. Every row must
//! be there and count no lost and no duplicated message (the command itself fails otherwise).

use std::process::Command;

#[test]
fn the_reliability_report_prints_every_fault_with_nothing_lost_or_duplicated() {
    let out = Command::new(env!("CARGO_BIN_EXE_gcbridge"))
        .args(["faults", "--sessions", "3", "--turns", "4"])
        .env_remove("GCBRIDGE_LOG")
        .env_remove("RUST_LOG")
        .output()
        .expect("run gcbridge faults");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| fault"))
        .map(|l| {
            l.split('|')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    let faults: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    for expected in [
        "none",
        "429",
        "502 on posts",
        "503",
        "504",
        "connection reset",
        "answer lost",
        "404",
        "403 token expired",
        "after the deadline",
        "SIGKILL",
    ] {
        assert!(
            faults.iter().any(|f| f.contains(expected)),
            "no row for {expected}: {stdout}"
        );
    }
    for row in &rows {
        // fault, turns, delivered, duplicated, lost, failed, p99, conversations
        assert_eq!(row.len(), 8, "{row:?}");
        assert_eq!(row[1], "12", "{row:?}");
        assert_eq!(row[3], "0", "duplicated in {row:?}");
        assert_eq!(row[4], "0", "lost in {row:?}");
        let delivered: usize = row[2].parse().expect("number");
        let failed: usize = row[5].parse().expect("number");
        assert_eq!(delivered + failed, 12, "{row:?}");
    }
}
