//! Tests of the claim rules, on real files and real processes (no Slurm needed).

use std::sync::{Arc, Barrier};

use super::*;

const RULES: Rules<'static> = Rules {
    timeout_s: 60.0,
    job_ended: None,
};

fn holder(host: &str, pid: u32, heartbeat_age_s: f64) -> Holder {
    let now = now_unix();
    Holder {
        host: host.into(),
        pid,
        job: None,
        array_task: None,
        claimed_unix: now - heartbeat_age_s,
        heartbeat_unix: now - heartbeat_age_s,
    }
}

/// Writes a claim as another holder left it.
fn plant(results: &Path, cell: &str, h: &Holder) {
    std::fs::create_dir_all(results.join(CLAIMS_DIR)).unwrap();
    create_exclusive(&claim_path(results, cell), h).unwrap();
}

/// A live child process on this host (`sleep 30`) and the claim of `cell` planted in its
/// name, heartbeat `heartbeat_age_s` old.
fn claimed_by_a_child(results: &Path, heartbeat_age_s: f64) -> (std::process::Child, Holder) {
    let child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let h = holder(&host_name(), child.id(), heartbeat_age_s);
    plant(results, "cell", &h);
    (child, h)
}

/// Claims `cell` of `results` for this process, which must find it free.
fn claim_free_cell(results: &Path) -> Claim {
    match acquire(results, "cell", Holder::this_process(), &RULES).unwrap() {
        Attempt::Claimed(claim, None) => claim,
        other => panic!("the cell was free, got {other:?}"),
    }
}

/// `n` threads of this process, distinct array tasks, claim `cell` of `results` at once.
fn race(results: &Path, n: usize) -> Vec<Attempt> {
    let start = Arc::new(Barrier::new(n));
    (0..n)
        .map(|i| {
            let (start, results) = (start.clone(), results.to_owned());
            std::thread::spawn(move || {
                let mut me = Holder::this_process();
                me.array_task = Some(i.to_string());
                start.wait();
                acquire(&results, "cell", me, &RULES).unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect()
}

#[test]
fn of_many_racing_claimers_exactly_one_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().to_owned();
    let outcomes: Vec<bool> = race(&results, 8)
        .into_iter()
        .map(|a| matches!(a, Attempt::Claimed(_, None)))
        .collect();
    assert_eq!(
        outcomes.iter().filter(|&&won| won).count(),
        1,
        "{outcomes:?}"
    );
    let holder = read_holder(&claim_path(&results, "cell")).unwrap().unwrap();
    assert_eq!(holder.pid, std::process::id());
}

#[test]
fn another_hosts_claim_is_taken_over_once_its_heartbeat_is_stale() {
    let tmp = tempfile::tempdir().unwrap();
    let fresh = holder("node-b", 4242, 5.0);
    plant(tmp.path(), "fresh", &fresh);
    let got = acquire(tmp.path(), "fresh", Holder::this_process(), &RULES).unwrap();
    assert!(matches!(got, Attempt::Held(h) if h == fresh));

    let stale = holder("node-b", 4242, 600.0);
    plant(tmp.path(), "stale", &stale);
    match acquire(tmp.path(), "stale", Holder::this_process(), &RULES).unwrap() {
        Attempt::Claimed(claim, Some((old, why))) => {
            assert_eq!((old, why), (stale, Takeover::HeartbeatTimeout));
            assert_eq!(claim.holder().pid, std::process::id());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_live_process_on_this_host_keeps_its_claim_however_old_its_heartbeat() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, old) = claimed_by_a_child(tmp.path(), 1e6);
    let got = acquire(tmp.path(), "cell", Holder::this_process(), &RULES).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(matches!(got, Attempt::Held(h) if h == old));
}

#[test]
fn a_holder_killed_between_claim_and_record_leaves_the_cell_retrainable() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, _) = claimed_by_a_child(tmp.path(), 0.0);
    child.kill().unwrap(); // SIGKILL, before any record
    child.wait().unwrap();
    match acquire(tmp.path(), "cell", Holder::this_process(), &RULES).unwrap() {
        Attempt::Claimed(claim, Some((_, why))) => {
            assert_eq!(why, Takeover::HolderGone);
            claim.finish().unwrap();
        }
        other => panic!("{other:?}"),
    }
    assert!(!claim_path(tmp.path(), "cell").exists());
}

#[test]
fn a_claim_whose_slurm_job_ended_is_taken_over_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = holder("node-c", 7, 1.0);
    h.job = Some("812".into());
    plant(tmp.path(), "cell", &h);
    let ended = |job: &str| job == "812";
    let rules = Rules {
        timeout_s: 3600.0,
        job_ended: Some(&ended),
    };
    let got = acquire(tmp.path(), "cell", Holder::this_process(), &rules).unwrap();
    assert!(matches!(
        got,
        Attempt::Claimed(_, Some((_, Takeover::JobEnded)))
    ));
}

#[test]
fn heartbeats_refresh_the_claim_in_place_and_finish_frees_the_cell() {
    let tmp = tempfile::tempdir().unwrap();
    let mut claim = claim_free_cell(tmp.path());
    let before = read_holder(&claim_path(tmp.path(), "cell"))
        .unwrap()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    claim.heartbeat().unwrap();
    let after = read_holder(&claim_path(tmp.path(), "cell"))
        .unwrap()
        .unwrap();
    assert!(after.heartbeat_unix > before.heartbeat_unix);
    assert_eq!(after.claimed_unix, before.claimed_unix);
    claim.finish().unwrap();
    assert!(matches!(
        acquire(tmp.path(), "cell", Holder::this_process(), &RULES).unwrap(),
        Attempt::Claimed(_, None)
    ));
}

#[test]
fn a_kept_alive_claim_beats_on_its_own_until_finished() {
    let tmp = tempfile::tempdir().unwrap();
    let path = claim_path(tmp.path(), "cell");
    let claim = claim_free_cell(tmp.path());
    let first = read_holder(&path).unwrap().unwrap().heartbeat_unix;
    let alive = claim.keep_alive(std::time::Duration::from_millis(10));
    let start = std::time::Instant::now();
    while read_holder(&path).unwrap().unwrap().heartbeat_unix == first {
        assert!(start.elapsed().as_secs() < 10, "no heartbeat");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    alive.finish().unwrap();
    assert!(!path.exists());
    // No late heartbeat brings the claim back.
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(!path.exists());
}

#[test]
fn a_holder_whose_claim_was_taken_over_neither_beats_over_it_nor_frees_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut first = claim_free_cell(tmp.path());
    // Another host took the cell over (as after a stalled heartbeat).
    let other = holder("node-9", 77, 0.0);
    Claim {
        path: claim_path(tmp.path(), "cell"),
        holder: other.clone(),
    }
    .write()
    .unwrap();
    let err = first.heartbeat().unwrap_err().to_string();
    assert!(err.contains("was taken over"), "{err}");
    first.finish().unwrap();
    assert_eq!(
        read_holder(&claim_path(tmp.path(), "cell")).unwrap(),
        Some(other)
    );
}

#[test]
fn a_damaged_claim_file_is_an_error_that_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join(CLAIMS_DIR)).unwrap();
    std::fs::write(claim_path(tmp.path(), "cell"), "{half").unwrap();
    let err = acquire(tmp.path(), "cell", Holder::this_process(), &RULES)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cell.claim") && err.contains("delete it"),
        "{err}"
    );
}

#[test]
fn of_many_claimers_finding_one_stale_claim_exactly_one_takes_it_over() {
    let tmp = tempfile::tempdir().unwrap();
    plant(tmp.path(), "cell", &holder("node-d", 99, 900.0));
    let results = tmp.path().to_owned();
    let won: usize = race(&results, 8)
        .into_iter()
        .map(|a| match a {
            Attempt::Claimed(_, Some((_, Takeover::HeartbeatTimeout))) => 1,
            Attempt::Claimed(claim, other) => panic!("{claim:?} {other:?}"),
            // The winner, or the stale holder while the winner replaces it.
            Attempt::Held(_) => 0,
        })
        .sum();
    assert_eq!(won, 1);
    assert!(!results.join(CLAIMS_DIR).join("cell.takeover").exists());
    let now = read_holder(&claim_path(&results, "cell")).unwrap().unwrap();
    assert_eq!(now.pid, std::process::id());
}
