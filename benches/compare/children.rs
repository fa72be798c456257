//! The processes the bench starts: pinned to a CPU, and tracked so that none outlives the
//! bench when it is interrupted or panics.

use std::path::Path;
use std::process::{Command, Output};

/// Pids of the servers and clients running now, killed if the bench is interrupted.
static CHILDREN: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

pub fn track(pid: u32) {
    CHILDREN.lock().unwrap().push(pid);
}

pub fn untrack(pid: u32) {
    CHILDREN.lock().unwrap().retain(|p| *p != pid);
}

/// Runs `command` to its end, tracked meanwhile, and returns its output; `what` names it
/// if it cannot run.
pub fn output_tracked(command: &mut Command, what: &str) -> Output {
    let child = command.spawn().expect(what);
    let pid = child.id();
    track(pid);
    let output = child.wait_with_output().expect(what);
    untrack(pid);
    output
}

fn kill_children() {
    if let Ok(children) = CHILDREN.try_lock() {
        for pid in children.iter() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

/// On SIGINT, SIGTERM or a panic, kills the processes the bench started, so none outlives it.
pub fn stop_children_on_signal() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        kill_children();
        default_hook(info);
    }));
    std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        });
        kill_children();
        eprintln!("interrupted: stopped the servers and clients");
        std::process::exit(130);
    });
}

/// `program args` pinned to `cpu`, with a high open-files limit.
pub fn pinned(cpu: &str, program: &Path, args: &[String]) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#"ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec taskset -c "$0" "$@""#)
        .arg(cpu)
        .arg(program)
        .args(args);
    command
}
