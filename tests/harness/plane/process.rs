//! Child processes of the plane: logs to files, stopped by PID, and never
//! outliving the process that started them.
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

pub struct Proc {
    pub name: String,
    child: Child,
    /// How it was started, so that it can be started again the same way.
    program: std::path::PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: std::path::PathBuf,
}

impl Proc {
    /// Starts `program` with its output in `<logs>/<name>.log`, tied to the
    /// calling thread (`spawn_tied`), so a killed harness cannot leak an etcd
    /// or apiserver.
    pub fn spawn(name: &str, program: &Path, args: &[String], logs: &Path) -> Result<Proc> {
        Proc::spawn_with_env(name, program, args, &[], logs)
    }

    /// `spawn` with extra environment variables.
    pub fn spawn_with_env(name: &str, program: &Path, args: &[String], env: &[(&str, String)], logs: &Path) -> Result<Proc> {
        let log = logs.join(format!("{name}.log"));
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let child = start(program, args, &env, File::create(&log)?)?;
        Ok(Proc { name: name.to_string(), child, program: program.to_path_buf(), args: args.to_vec(), env, log })
    }

    /// Sends `signal` (SIGKILL: a crash; SIGTERM: an orderly restart), reaps
    /// the process, and starts it again with the same arguments, its log
    /// continued; tied to the calling thread like the first.
    pub fn restart(&mut self, signal: i32) -> Result<()> {
        if signal == libc::SIGTERM {
            self.stop(Duration::from_secs(10));
        } else {
            unsafe { libc::kill(self.pid() as i32, signal) };
            let _ = self.child.wait();
        }
        let log = File::options().append(true).open(&self.log)?;
        self.child = start(&self.program, &self.args, &self.env, log)?;
        Ok(())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Exited already (crashed)?
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM, then SIGKILL after `grace`; always reaps the child.
    pub fn stop(&mut self, grace: Duration) {
        if self.exited().is_some() {
            return;
        }
        unsafe { libc::kill(self.pid() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(program: &Path, args: &[String], env: &[(String, String)], log: File) -> Result<Child> {
    let mut cmd = Command::new(program);
    cmd.args(args).envs(env.iter().cloned()).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    spawn_tied(&mut cmd).with_context(|| format!("starting {}", program.display()))
}

/// Spawns `cmd` in its own process group (a terminal's Ctrl-C reaches the
/// harness, which then stops its children in order), to be SIGKILLed when the
/// thread that spawned it dies (PR_SET_PDEATHSIG), so no child outlives it.
pub fn spawn_tied(cmd: &mut Command) -> std::io::Result<Child> {
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setpgid(0, 0);
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Is a process with this PID still alive (and not a zombie we own)?
pub fn alive(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Field 3 is the state; Z = zombie, which holds no resources.
    match status.rsplit_once(')') {
        Some((_, rest)) => !rest.trim_start().starts_with('Z'),
        None => false,
    }
}
