//! Command-line interface: argument definitions and dispatch.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::program;

/// Popek & Goldberg's 1974 machine, made executable.
///
/// pgvm runs programs on the paper's third-generation machine `S = <E, M, P, R>` for any ISA
/// described in its ISA language (built-in profiles model the System/370, PowerPC, PDP-10,
/// MC68000/68010 and IA-32).
#[derive(Parser)]
#[command(name = "pgvm", version, about, long_about = None)]
#[command(
    after_help = "Start with `pgvm tour`. Errors exit with code 2: as `file:line:col: message` and \
`hint:` lines, with the source line and a caret on a terminal or with CLICOLOR_FORCE=1 (no colour \
when NO_COLOR is set), \
or under --json as one JSON object {\"message\", \"location\": {\"file\", \"line\", \"col\"}, \
\"hint\"} on stderr. A closed stdout (`pgvm tour | head`) ends a command quietly with code 0."
)]
pub struct Cli {
    /// Print one JSON value on stdout instead of text (every command). An error is then one
    /// JSON object on stderr: {"message", "location": {"file", "line", "col"}, "hint"}.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Assemble (if needed) and run a program on the bare machine.
    ///
    /// Console output goes to stdout; a one-line summary of the final state goes to stderr.
    /// Exit code: 0 if the program halted, 1 if it ran out of steps or got stuck in a trap
    /// loop, 2 on bad input.
    Run(RunArgs),
    /// Assemble a source file into a memory image (JSON, see docs/image-format.md).
    ///
    /// With --json, a summary of the image (file, isa, words, segments) goes to stdout.
    Asm {
        /// Assembly source, or `-` for standard input.
        file: PathBuf,
        /// Where to write the image.
        #[arg(short, long)]
        output: PathBuf,
        /// ISA profile name or .isa path [default: the file's `.isa` directive, else s370].
        #[arg(long)]
        isa: Option<String>,
    },
    /// Print an image as assembly source that assembles back to the same image.
    ///
    /// With --json: {"isa", "source"}.
    Disasm {
        /// A memory image written by `pgvm asm`.
        image: PathBuf,
        /// ISA profile name or .isa path [default: the one the image names].
        #[arg(long)]
        isa: Option<String>,
    },
    /// List or document ISA profiles.
    #[command(subcommand)]
    Isa(IsaCommand),
    /// A guided run of the main capabilities on built-in programs.
    Tour,
    /// Derive every instruction's classes and the verdicts of Theorems 1-3, with evidence,
    /// and whether the profile's hardware assist is sound (it only adds traps).
    Classify(crate::classify::ClassifyArgs),
    /// Re-execute the witnesses in a file and show each pair of runs side by side.
    ///
    /// Reads both kinds of witness file: the classifier's (`pgvm classify --witness-out`),
    /// re-run on pgvm's machine, and the audit's (`pgvm audit --witness-out`), re-run on the
    /// emulator they were found on. Exit code: 0 if every witness replays as claimed, 1 if one
    /// does not, 2 on bad input.
    Replay(crate::classify::ReplayArgs),
    /// Audit a real instruction set: Theorems 1 and 3 for the MC68000/68010, from an emulator.
    ///
    /// The verdicts are derived by running a real 68000 emulator (the `m68k` crate), not a
    /// model of ours. Every one of the 65,536 opcode words is grouped by the instruction the
    /// emulator decodes it as; each group is run on --samples states (operands and extension
    /// words randomized), each state in supervisor and in user mode, and classified by
    /// DESIGN.md §2's definitions (mode = the S bit of SR; a trap = any exception; no location
    /// sensitivity: the 68000 has no relocation register). Sensitive or "not privileged"
    /// verdicts carry witnesses that `pgvm replay` re-runs; absences are search evidence
    /// (N states, seed), never a proof.
    /// Shown: the privileged and sensitive groups, and the theorems with their violations.
    ///
    /// Examples:
    ///   pgvm audit --cpu m68000                    (Theorem 1 fails: MOVE from SR)
    ///   pgvm audit --cpu m68010                    (Theorem 1 holds)
    ///   pgvm audit --cpu m68000 --compare m68000   (beside our isa/m68000.isa model)
    ///   pgvm audit --cpu m68000 --witness-out w.json && pgvm replay w.json
    ///
    /// See docs/audit.md. Exit code: 0 on success, 2 on bad input.
    #[command(verbatim_doc_comment)]
    Audit(crate::audit::AuditArgs),
    /// Run a guest bare and under the monitor, and compare: equivalence and efficiency.
    ///
    /// The bare run has q = --mem words; the monitored run gives the guest a VM of the same
    /// size. They are compared at the halt, or after the same number of guest instructions.
    /// Every emulated instruction is checked: it must be privileged (by the classifier) or
    /// trapping, since trap-and-emulate must never run an instruction that cannot trap in
    /// software. An ISA on which the monitor cannot isolate a guest (an instruction that is
    /// control-sensitive from user mode and not privileged, by the classifier) is refused
    /// unless --unsafe-isolation; so is a profile whose hardware assist the classifier finds
    /// unsound (it removes a trap), since the monitor turns the assist on.
    /// --monitor chooses the technique: tae, hvm, bt-kernel and bt-all (binary translation:
    /// the classifier's critical instructions are found block by block and carried out on
    /// the virtual state; counts of translated instructions and scanned blocks are shown),
    /// pv (a paravirtualized guest's hypercalls served; compared with the machine that
    /// implements them, docs/paravirt.md), assist (profiles with an assist only) and
    /// tae-assist (trap-and-emulate with the S/370-style VM assist: the machine itself carries
    /// out the instructions the profile's `feature vm_assist` names, counted as assisted;
    /// s370 only).
    /// Exit code: 0 if equivalent, 1 if not (with the first divergence), 2 on bad input, an
    /// ISA the monitor cannot isolate, an unsound assist or a technique that does not apply, 3
    /// if the monitor emulated an instruction that is not privileged (a monitor bug).
    Equiv(crate::vmm::EquivArgs),
    /// Run several guests at once, each in its own VM under the trap-and-emulate monitor.
    ///
    /// The monitor shares out one real machine: the allocator gives each VM its own memory
    /// (refusing, with a message, a VM that does not fit), and the VMs take turns of --slice
    /// guest instructions, so a guest that never halts cannot starve the others. A refused
    /// guest is named by its position and file, and listed in --json with the reason. An ISA
    /// on which the monitor cannot isolate a guest (an instruction that is control-sensitive
    /// from user mode and not privileged, by the classifier) is refused unless
    /// --unsafe-isolation, and so is an unsound hardware assist.
    /// Exit code: 0 if every guest halted, 1 if one did not, 2 on bad input, a refused VM, an
    /// ISA the monitor cannot isolate or an unsound assist.
    Vm(crate::vmm::VmArgs),
    /// Show each instruction that breaks Theorem 1 making a guest diverge under the monitor.
    ///
    /// The classifier finds the instructions that are sensitive but not privileged, with a
    /// witness state for each. Every such state is run as a small guest, bare and under
    /// trap-and-emulate, and the first difference is shown. Exit code: 0 if every violation
    /// gave a divergence (or Theorem 1 holds and there is none), 1 if some did not, 2 on bad
    /// input.
    Counterexample(crate::counterexample::CounterexampleArgs),
    /// Every built-in profile under every technique, on tsos and the workloads, checked
    /// against the theorems.
    ///
    /// Rows: guests/tsos/<profile>.s on each profile, and each guests/workloads/*.s on the
    /// profile its `.isa` line names (the assembler refuses it for any other), and
    /// guests/tsos/<profile>-pv.s, a paravirtualized tsos, under pv only. Columns: the
    /// techniques (tae, licensed by Theorem 1; hvm, by Theorem 3; bt-kernel, by Theorem 3 and
    /// a critical set complete by proof; bt-all, by that set alone; pv, by Theorem 3; assist,
    /// by Theorem 1 under a sound assist, on profiles with one; tae-assist, by Theorem 1 as
    /// tae, on profiles with a VM assist). Each cell: whether
    /// the run under the technique is equivalent to the bare run, the first diverging
    /// instruction when not (its mnemonic, address, source line and label), the percentage of
    /// guest instructions run directly and the host-time slowdown against the bare run. The
    /// licensing conditions are the classifier's verdicts (default settings). The guests are
    /// built into the binary.
    /// Exit code: 0 if every cell a theorem licenses is equivalent, 1 if one is not, 2 on bad
    /// input.
    Matrix(crate::matrix::MatrixArgs),
    /// Run the assembly monitor of guests/vmm/ under itself, the guest innermost, and compare
    /// the guest with its bare run (Theorem 2).
    ///
    /// Level 0 is the monitor on the bare machine (--l0 self) or the host-side monitor
    /// (--l0 native); each assembly monitor keeps 1024 words and gives the rest to the level
    /// inside it. The guest's final window, virtual PSW and console are compared with its bare
    /// run on a machine of the same w, at the halt. For every level: the instructions its
    /// code executed, the traps it took, the instructions it emulated (and how many of those
    /// a look ahead found after another emulation, without a trap of their own), the traps and
    /// timer interrupts it reflected, and the single steps it took while its guest's interval timer
    /// ran (the monitor reads no clock, so it counts its guest's instructions one by one then);
    /// the guest's privileged instructions against the traps they cost at level 0, and the
    /// slowdown against the bare run. The monitor's code is checked for timing-dependent
    /// instructions with the classifier.
    /// Exit code: 0 if equivalent, 1 if not (with the first difference) or if the monitor's
    /// code has a timing-dependent instruction, 2 on bad input (a memory too small for the
    /// depth says how many words it needs).
    Nest(crate::nest::NestArgs),
    /// Every workload in every configuration, measured and priced by a cost model.
    ///
    /// Rows: guests/tsos/<profile>.s, two variants of it with another process table
    /// (+syscalls: one process making system calls; +yield: four processes yielding to each
    /// other) and each guests/workloads/*.s on its own profile. Configurations: bare; every
    /// technique that applies to the profile (as in `pgvm matrix`); and nested under the
    /// assembly monitor of guests/vmm/ at depths 1 to --depth (workloads; default 4) and 1 to
    /// --tsos-depth (tsos; default 1), on profiles that have one. For each run: guest instructions per
    /// second, traps per second, the fraction executed directly, and the slowdown against
    /// bare, measured (host time) and modelled (the cost model, in model cycles: the same on
    /// every host). The default profiles are s370 (the System/370 claims, tae-assist and
    /// the nested monitor), ia32-vt (binary translation against first-generation hardware
    /// assist) and ia32 (its paravirtualized tsos under pv); --isa picks others. The
    /// default run takes under a minute in a release build; --tsos-depth 2 to 4 and a
    /// larger --min-time-ms take longer (--tsos-depth 4: several minutes).
    /// --svg DIR writes four plots: percent of native against trap density, slowdown against
    /// nesting depth, the VM assist's speed-up per workload, and binary translation against
    /// the hardware assist as the VM exit price varies. --html FILE writes one page with the
    /// matrix, the plots and the tables. See docs/practice.md.
    /// Exit code: 0 on success, 2 on bad input (a cost model with a missing, negative or
    /// unknown price, at file:line:col; an unwritable --svg directory).
    Bench(crate::bench::BenchArgs),
}

#[derive(Subcommand)]
enum IsaCommand {
    /// Every built-in profile, with its one-line description.
    ///
    /// With --json: an array of {"name", "description", "abstract", "instructions"}.
    List,
    /// A Markdown reference of every instruction: encoding, semantics and effects.
    ///
    /// With --json: the checked profile itself (formats, instructions, bodies, effects).
    Doc {
        /// A built-in profile name (see `pgvm isa list`) or a path to a .isa file.
        isa: String,
    },
}

/// Arguments of `pgvm run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// An assembly source (.s), a memory image written by `pgvm asm`, or `-` for assembly
    /// source on standard input (at most 16 MiB).
    pub file: PathBuf,
    /// ISA profile name or .isa path [default: the program's own, else s370].
    #[arg(long)]
    pub isa: Option<String>,
    /// Memory size q, in words (1 to 2097151).
    #[arg(long, default_value_t = pgvm_machine::DEFAULT_WORDS)]
    pub mem: u64,
    /// Stop after this many instructions if the program has not halted.
    #[arg(long, default_value_t = 100_000_000)]
    pub max_steps: u64,
    /// Print every executed instruction with the PSW before it (and its label, for a source),
    /// and each trap and interrupt with its vector, old and new PSW, to stderr.
    #[arg(long)]
    pub trace: bool,
    /// Bytes for the console's input queue.
    #[arg(long, default_value = "")]
    pub input: String,
}

/// Prints `value` as one pretty JSON value on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// What `pgvm asm --json` prints.
#[derive(serde::Serialize)]
struct AsmSummary {
    output: String,
    isa: String,
    words: usize,
    segments: usize,
}

pub fn dispatch(cli: Cli) -> Result<ExitCode> {
    let json = cli.json;
    match cli.command {
        Command::Run(args) => crate::run::run(&args, json),
        Command::Asm { file, output, isa } => {
            let (isa, mut image) = program::load(&file, isa.as_deref())?;
            image.record_isa_path(&isa, &output);
            std::fs::write(&output, image.to_json())
                .with_context(|| format!("Cannot write {}", output.display()))?;
            let summary = AsmSummary {
                output: output.display().to_string(),
                isa: image.isa.clone(),
                words: image.segments.iter().map(|s| s.words.len()).sum(),
                segments: image.segments.len(),
            };
            if json {
                print_json(&summary)?;
            } else {
                eprintln!(
                    "{}: {} words in {} segment(s) for {}",
                    summary.output, summary.words, summary.segments, summary.isa
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Disasm { image, isa } => {
            let (isa, image) = program::load(&image, isa.as_deref())?;
            let source = pgvm_asm::disassemble(&image, &isa);
            if json {
                print_json(&Disassembly {
                    isa: &isa.name,
                    source: &source,
                })?;
            } else {
                out!("{source}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Isa(IsaCommand::List) => {
            isa_list(json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Isa(IsaCommand::Doc { isa }) => {
            let isa = pgvm_isa::load(&isa)?;
            if json {
                print_json(&isa)?;
            } else {
                out!("{}", pgvm_isa::render_markdown(&isa));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Tour => crate::tour::tour(json),
        Command::Counterexample(args) => crate::counterexample::counterexample(&args, json),
        Command::Classify(args) => crate::classify::classify(&args, json),
        Command::Replay(args) => crate::classify::replay(&args, json),
        Command::Audit(args) => crate::audit::audit(&args, json),
        Command::Equiv(args) => crate::vmm::equiv(&args, json),
        Command::Vm(args) => crate::vmm::vm(&args, json),
        Command::Matrix(args) => crate::matrix::matrix(&args, json),
        Command::Nest(args) => crate::nest::nest(&args, json),
        Command::Bench(args) => crate::bench::bench(&args, json),
    }
}

/// What `pgvm disasm --json` prints.
#[derive(serde::Serialize)]
struct Disassembly<'a> {
    isa: &'a str,
    source: &'a str,
}

/// One line of `pgvm isa list`.
#[derive(serde::Serialize)]
struct IsaEntry {
    name: String,
    description: String,
    #[serde(rename = "abstract")]
    is_abstract: bool,
    /// Instructions, inherited ones included.
    instructions: usize,
    /// Why it does not load, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn isa_list(json: bool) -> Result<()> {
    if json {
        let entries: Vec<IsaEntry> = pgvm_isa::builtin_names()
            .iter()
            .map(|name| match pgvm_isa::load(name) {
                Ok(isa) => IsaEntry {
                    name: isa.name,
                    description: isa.description,
                    is_abstract: isa.is_abstract,
                    instructions: isa.insns.len(),
                    error: None,
                },
                Err(e) => IsaEntry {
                    name: name.to_string(),
                    description: String::new(),
                    is_abstract: false,
                    instructions: 0,
                    error: Some(e.to_string()),
                },
            })
            .collect();
        return print_json(&entries);
    }
    let mut abstracts = Vec::new();
    for name in pgvm_isa::builtin_names() {
        match pgvm_isa::load(name) {
            Ok(isa) if isa.is_abstract => abstracts.push(isa),
            Ok(isa) => outln!("{:<8} {}", isa.name, isa.description),
            Err(e) => outln!("{name:<8} (does not load: {e})"),
        }
    }
    for isa in abstracts {
        outln!(
            "\n{} (abstract, extended by the profiles above): {}",
            isa.name,
            isa.description
        );
    }
    Ok(())
}
