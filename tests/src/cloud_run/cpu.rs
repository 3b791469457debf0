//! CPU allocation. With request-based billing (the default) "CPU is only
//! allocated during request processing, container startup and shutdown";
//! outside those the instance is throttled
//! (<https://cloud.google.com/run/docs/container-contract#cpu-request>,
//! <https://cloud.google.com/run/docs/configuring/billing-settings>), and
//! "CPU is allocated for every probe"
//! (<https://cloud.google.com/run/docs/configuring/healthchecks#billing>).
//!
//! The rehearsal takes the strict reading: once the startup probe has
//! passed, the process is stopped (`SIGSTOP`) whenever neither a request
//! nor a probe is in flight, and continued (`SIGCONT`) when one arrives.
//! Work that only runs in background tasks therefore does not run at all
//! while the instance is idle, which is what can happen on Cloud Run.
//!
//! The CPU is the instance's: with sidecars, every container of the
//! instance is stopped and continued together, since Cloud Run allocates
//! CPU to the instance, not to one container
//! (<https://cloud.google.com/run/docs/deploying#sidecars>).

use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct State {
    in_flight: usize,
    frozen: bool,
    /// Freezing applies (after startup, before shutdown).
    throttling: bool,
    freezes: u64,
}

#[derive(Debug)]
pub struct Cpu {
    /// The processes of the instance's containers.
    pids: Mutex<Vec<i32>>,
    /// Request-based billing (`run.googleapis.com/cpu-throttling` not "false").
    request_based: bool,
    state: Mutex<State>,
}

/// CPU held for one request or probe; released when dropped.
pub struct CpuGuard(Arc<Cpu>);

impl Drop for CpuGuard {
    fn drop(&mut self) {
        self.0.leave();
    }
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory effects; the pid is our own child's.
    unsafe {
        libc::kill(pid, sig);
    }
}

impl Cpu {
    pub fn new(pid: u32, request_based: bool) -> Arc<Self> {
        let cpu = Self::for_instance(request_based);
        cpu.adopt(pid);
        cpu
    }

    /// The CPU of an instance whose containers are not started yet.
    pub fn for_instance(request_based: bool) -> Arc<Self> {
        Arc::new(Self {
            pids: Mutex::default(),
            request_based,
            state: Mutex::default(),
        })
    }

    /// One more container's process shares this CPU.
    pub fn adopt(&self, pid: u32) {
        self.pids.lock().unwrap().push(pid as i32);
    }

    fn signal_all(&self, sig: i32) {
        for pid in self.pids.lock().unwrap().iter() {
            signal(*pid, sig);
        }
    }

    /// A request or probe begins: the process runs until it ends.
    pub fn enter(self: &Arc<Self>) -> CpuGuard {
        let mut state = self.state.lock().unwrap();
        state.in_flight += 1;
        if state.frozen {
            self.signal_all(libc::SIGCONT);
            state.frozen = false;
        }
        CpuGuard(self.clone())
    }

    fn leave(&self) {
        let mut state = self.state.lock().unwrap();
        state.in_flight -= 1;
        self.freeze_if_idle(&mut state);
    }

    fn freeze_if_idle(&self, state: &mut State) {
        if state.in_flight == 0 && state.throttling && self.request_based && !state.frozen {
            self.signal_all(libc::SIGSTOP);
            state.frozen = true;
            state.freezes += 1;
        }
    }

    /// Startup is over: from now on the CPU is only there for requests.
    pub fn start_throttling(&self) {
        let mut state = self.state.lock().unwrap();
        state.throttling = true;
        self.freeze_if_idle(&mut state);
    }

    /// Shutdown: CPU is allocated until the process is gone.
    pub fn release(&self) {
        let mut state = self.state.lock().unwrap();
        state.throttling = false;
        if state.frozen {
            self.signal_all(libc::SIGCONT);
            state.frozen = false;
        }
    }

    /// How often the process was stopped for lack of requests.
    pub fn freezes(&self) -> u64 {
        self.state.lock().unwrap().freezes
    }

    pub fn is_frozen(&self) -> bool {
        self.state.lock().unwrap().frozen
    }
}
