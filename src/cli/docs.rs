//! The documents generated from the command-line definitions themselves:
//! shell completions and manual pages. Generated, not written by hand, so
//! that neither can lag behind `--help`.

use std::io::Write;
use std::path::Path;

/// Sections of kinko-milter(8) that clap does not know about (signals,
/// files, environment), written by hand in roff.
const MAN_EXTRA: &str = include_str!("man-extra.roff");

/// The completion script for `shell`.
///
/// clap_complete (4.6) writes bash scripts whose `case "${cmd}"` labels
/// spell a hyphenated binary name differently from the state it tracks
/// (`kinko__subcmd__milter…` against `kinko__milter…`), so nothing after
/// the first word ever completes. Until the generator is fixed we
/// rewrite the labels to the spelling of the state; the test in
/// tests/cli.rs completes `quarantine <TAB>` in a real bash and fails if
/// a future clap_complete changes either spelling.
pub fn completions(shell: clap_complete::Shell, cmd: &mut clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, cmd, "kinko-milter", &mut out);
    if shell == clap_complete::Shell::Bash {
        let script =
            String::from_utf8_lossy(&out).replace("kinko__subcmd__milter", "kinko__milter");
        return script.into_bytes();
    }
    out
}

/// Writes kinko-milter.8 and one page per subcommand
/// (kinko-milter-quarantine.8, kinko-milter-quarantine-list.8, …) into
/// `dir`, and returns the paths written.
pub fn manpages(cmd: clap::Command, dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    let mut pages = Vec::new();
    subpages(&cmd, &mut pages);
    for sub in pages {
        let man = clap_mangen::Man::new(sub).section("8");
        written.push(man.generate_to(dir)?);
    }
    let man = clap_mangen::Man::new(cmd).section("8");
    let path = dir.join(man.get_filename());
    let mut f = std::fs::File::create(&path)?;
    man.render(&mut f)?;
    f.write_all(MAN_EXTRA.as_bytes())?;
    f.flush()?;
    written.push(path);
    Ok(written)
}

fn subpages(cmd: &clap::Command, out: &mut Vec<clap::Command>) {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        out.push(sub.clone());
        subpages(sub, out);
    }
}
