//! The x86-64 emitter. Registers: `rdi` the context record, `rsi` memory, `rdx` the code map,
//! `r8` the room, `rax`/`rcx`/`r9` the value registers, `r10` the window index, `r11` the
//! code map's base while a division uses `rdx`, and `r12`-`r15` the pinned words (saved and
//! restored: the System V convention has the callee keep them).
//!
//! A pinned word is held in a register as well as in memory: a load reads the register, a
//! store writes both. Memory is therefore always current, and an exit has nothing to write
//! back; what the register saves is the load, which in a loop would otherwise wait for the
//! store of the lap before (a store-to-load forwarding, about five cycles, on every lap's
//! counter). A store through the window may hit a pinned word, so it reloads them all.

// `dynasm!`'s dynamic registers expand to an `.into()` of their number.
#![allow(clippy::useless_conversion)]

use std::fmt;
use std::sync::Arc;

use dynasmrt::x64::X64Relocation;
use dynasmrt::{DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler, dynasm};
use pgvm_isa::BinOp;

use crate::arena::{self, Placed};
use crate::{Arg, Ctx, Exit, Label, Left, NativeError, Reg};

/// The emitted code's entry: the context record in, the exit's kind out.
type Entry = unsafe extern "sysv64" fn(*mut Ctx) -> u32;

/// Words that can be pinned at once.
pub const PINS: usize = 4;

/// The register of pinned word `k`.
fn pin_reg(k: usize) -> u8 {
    12 + k as u8
}

/// Register numbers as the encoder counts them.
fn num(r: Reg) -> u8 {
    match r {
        Reg::A => 0,
        Reg::B => 1,
        Reg::C => 9,
    }
}

/// Native code in the making, for one machine size and one window.
pub struct Emitter {
    /// The code, assembled into a vector and mapped once, whole, by [`Emitter::finish`]: an
    /// assembler that maps as it goes maps a page up front, and again (or twice more, the
    /// page made writable and executable again) when it commits.
    ops: VecAssembler<X64Relocation>,
    words: u64,
    l: u64,
    lim: u64,
    start: DynamicLabel,
    /// The pinned words, the `k`th in register `pin_reg(k)`.
    pins: Vec<u64>,
    /// The labels made by [`Emitter::label`], by [`Label`]'s index.
    labels: Vec<DynamicLabel>,
    /// Whether `r10` holds a window index that [`Emitter::window`] checked, on every path to
    /// the code emitted next: set by `window`, cleared where paths join (a label, the start).
    /// The window accesses are refused without it: that is what makes them safe.
    window_checked: bool,
    /// Whether the code emitted next can be reached: cleared after an unconditional jump
    /// (an exit, a restart, a lap), set again at a label. `finish` refuses code whose end can
    /// be reached, which would run on past it.
    reachable: bool,
    exits: Vec<(DynamicLabel, Exit)>,
    /// The first error met; the emitter goes on accepting calls and [`Emitter::finish`]
    /// reports it, so a lowering need not check every call.
    error: Option<NativeError>,
}

impl Emitter {
    /// An emitter for a machine of `words` words whose window is `<l, lim>` (apparent
    /// addresses below `lim`, at physical `l` onward), holding the fixed words `pins` (at
    /// most [`PINS`]; any more are not pinned) in registers.
    pub fn new(words: u64, l: u64, lim: u64, pins: &[u64]) -> Result<Emitter, NativeError> {
        // Offsets are 32-bit: a fixed word's byte offset must fit.
        if words > (i32::MAX as u64) / 8 {
            return Err(NativeError::OutOfRange(words, (i32::MAX as u64) / 8));
        }
        if l.checked_add(lim).is_none_or(|end| end > words) {
            return Err(NativeError::Window { l, lim, words });
        }
        // Every jump is to a label of this code, relative: the base address cancels out.
        let mut ops = VecAssembler::new(0);
        let start = ops.new_dynamic_label();
        dynasm!(ops
            ; .arch x64
            ; push r12
            ; push r13
            ; push r14
            ; push r15
            ; mov rsi, [rdi]
            ; mov rdx, [rdi + 8]
            ; mov r8, [rdi + 16]
            // No caller's value leaves through an exit's `Arg::Window`.
            ; xor r10d, r10d
        );
        let mut e = Emitter {
            ops,
            words,
            l,
            lim,
            start,
            pins: Vec::new(),
            labels: Vec::new(),
            window_checked: false,
            reachable: true,
            exits: Vec::new(),
            error: None,
        };
        for &cell in pins.iter().take(PINS) {
            e.at(cell);
            e.pins.push(cell);
        }
        e.reload_pins();
        dynasm!(e.ops ; .arch x64 ; =>start);
        Ok(e)
    }

    /// The pinned registers, read again from memory.
    fn reload_pins(&mut self) {
        for k in 0..self.pins.len() {
            let d = self.at(self.pins[k]) * 8;
            dynasm!(self.ops ; .arch x64 ; mov Rq(pin_reg(k)), QWORD [rsi + d]);
        }
    }

    /// The register word `cell` is pinned in, if it is.
    fn pinned(&self, cell: u64) -> Option<u8> {
        self.pins.iter().position(|&c| c == cell).map(pin_reg)
    }

    /// The byte offset of fixed word `cell`, or the error that it is past the machine.
    fn at(&mut self, cell: u64) -> i32 {
        if cell >= self.words {
            self.error
                .get_or_insert(NativeError::OutOfRange(cell, self.words));
            return 0;
        }
        // Below `i32::MAX / 8` (checked in `new`).
        cell as i32
    }

    /// A label that takes exit `e`, emitted with the others at the end.
    fn exit_label(&mut self, e: Exit) -> DynamicLabel {
        let label = self.ops.new_dynamic_label();
        self.exits.push((label, e));
        label
    }

    /// `r = mem[cell]`.
    pub fn load(&mut self, r: Reg, cell: u64) {
        let d = self.at(cell) * 8;
        match self.pinned(cell) {
            Some(p) => dynasm!(self.ops ; .arch x64 ; mov Rq(num(r)), Rq(p)),
            None => dynasm!(self.ops ; .arch x64 ; mov Rq(num(r)), QWORD [rsi + d]),
        }
    }

    /// `r = k`.
    pub fn konst(&mut self, r: Reg, k: u64) {
        dynasm!(self.ops ; .arch x64 ; mov Rq(num(r)), QWORD k as i64);
    }

    /// `mem[cell] = r`.
    pub fn store(&mut self, cell: u64, r: Reg) {
        let d = self.at(cell) * 8;
        dynasm!(self.ops ; .arch x64 ; mov QWORD [rsi + d], Rq(num(r)));
        if let Some(p) = self.pinned(cell) {
            dynasm!(self.ops ; .arch x64 ; mov Rq(p), Rq(num(r)));
        }
    }

    /// Takes exit `e` when the code map marks word `cell`.
    pub fn exit_if_code(&mut self, cell: u64, e: Exit) {
        let d = self.at(cell);
        let to = self.exit_label(e);
        dynasm!(self.ops ; .arch x64 ; cmp BYTE [rdx + d], 0 ; jne =>to);
    }

    /// `A = A op B`, with [`pgvm_isa::ops::alu`]'s meaning: wrapping arithmetic, shifts by
    /// the count's low six bits, comparisons that yield 0 or 1.
    pub fn alu(&mut self, op: BinOp) {
        macro_rules! set {
            ($cc:ident) => {
                dynasm!(self.ops ; .arch x64 ; cmp rax, rcx ; $cc al ; movzx eax, al)
            };
        }
        match op {
            BinOp::Add => dynasm!(self.ops ; .arch x64 ; add rax, rcx),
            BinOp::Sub => dynasm!(self.ops ; .arch x64 ; sub rax, rcx),
            BinOp::Mul => dynasm!(self.ops ; .arch x64 ; imul rax, rcx),
            BinOp::And => dynasm!(self.ops ; .arch x64 ; and rax, rcx),
            BinOp::Or => dynasm!(self.ops ; .arch x64 ; or rax, rcx),
            BinOp::Xor => dynasm!(self.ops ; .arch x64 ; xor rax, rcx),
            // The hardware masks a 64-bit shift's count to six bits, as `alu` does.
            BinOp::Shl => dynasm!(self.ops ; .arch x64 ; shl rax, cl),
            BinOp::Shr => dynasm!(self.ops ; .arch x64 ; shr rax, cl),
            BinOp::Sar => dynasm!(self.ops ; .arch x64 ; sar rax, cl),
            BinOp::Eq => set!(sete),
            BinOp::Ne => set!(setne),
            BinOp::Lt => set!(setb),
            BinOp::Le => set!(setbe),
            BinOp::Gt => set!(seta),
            BinOp::Ge => set!(setae),
            BinOp::Lts => set!(setl),
            BinOp::Les => set!(setle),
            // `div` takes its dividend in `rdx:rax` and faults on a zero divisor: `rdx`, the
            // code map's base, waits in `r11`, and a zero divisor takes `alu`'s results
            // (all ones for a quotient, the dividend for a remainder) without dividing.
            BinOp::Div | BinOp::Rem => {
                let rem = op == BinOp::Rem;
                dynasm!(self.ops
                    ; .arch x64
                    ; test rcx, rcx
                    ; jz >zero
                    ; mov r11, rdx
                    ; xor edx, edx
                    ; div rcx
                );
                if rem {
                    dynasm!(self.ops ; .arch x64 ; mov rax, rdx);
                }
                dynasm!(self.ops ; .arch x64 ; mov rdx, r11 ; jmp >done ; zero:);
                if !rem {
                    dynasm!(self.ops ; .arch x64 ; mov rax, -1);
                }
                dynasm!(self.ops ; .arch x64 ; done:);
            }
            BinOp::LogicalAnd | BinOp::LogicalOr => {
                self.error.get_or_insert(NativeError::Operator(op));
            }
        }
    }

    /// Develops apparent address `A` in the window: takes exit `e` when it is at or past the
    /// limit, and otherwise makes it the window index that [`Emitter::load_window`] and
    /// [`Emitter::store_window`] use.
    pub fn window(&mut self, e: Exit) {
        let to = self.exit_label(e);
        // `lim` and `l` are below 2^28 (checked in `new`), so both fit the immediates.
        let (lim, l) = (self.lim as i32, self.l as i32);
        dynasm!(self.ops
            ; .arch x64
            ; mov r10, QWORD lim as i64
            ; cmp rax, r10
            ; jae =>to
            ; lea r10, [rax + l]
        );
        self.window_checked = true;
    }

    /// `r = mem[window index]`.
    pub fn load_window(&mut self, r: Reg) {
        if !self.checked_window() {
            return;
        }
        dynasm!(self.ops ; .arch x64 ; mov Rq(num(r)), QWORD [rsi + r10 * 8]);
    }

    /// `mem[window index] = r`.
    pub fn store_window(&mut self, r: Reg) {
        if !self.checked_window() {
            return;
        }
        dynasm!(self.ops ; .arch x64 ; mov QWORD [rsi + r10 * 8], Rq(num(r)));
        self.reload_pins();
    }

    /// Takes exit `e` when the code map marks the window index's word.
    pub fn exit_if_code_window(&mut self, e: Exit) {
        if !self.checked_window() {
            return;
        }
        let to = self.exit_label(e);
        dynasm!(self.ops ; .arch x64 ; cmp BYTE [rdx + r10], 0 ; jne =>to);
    }

    /// Takes exit `e` when `A` is non-zero (`nonzero`) or zero (not `nonzero`).
    pub fn exit_if(&mut self, nonzero: bool, e: Exit) {
        let to = self.exit_label(e);
        if nonzero {
            dynasm!(self.ops ; .arch x64 ; test rax, rax ; jnz =>to);
        } else {
            dynasm!(self.ops ; .arch x64 ; test rax, rax ; jz =>to);
        }
    }

    /// Takes exit `e` when `A` is not `k`: an indirect jump's guess at its target.
    pub fn exit_if_not(&mut self, k: u64, e: Exit) {
        let Some(k) = self.imm(k) else {
            return;
        };
        let to = self.exit_label(e);
        dynasm!(self.ops ; .arch x64 ; cmp rax, k ; jne =>to);
    }

    /// Goes on at label `l`.
    pub fn jump(&mut self, l: Label) {
        let to = self.dynamic(l);
        dynasm!(self.ops ; .arch x64 ; jmp =>to);
        self.reachable = false;
    }

    /// A place in the code, to be bound once with [`Emitter::bind`].
    pub fn label(&mut self) -> Label {
        let l = self.ops.new_dynamic_label();
        self.labels.push(l);
        Label(self.labels.len() - 1)
    }

    /// The dynamic label of `l`: labels are only made by [`Emitter::label`], in order.
    fn dynamic(&mut self, l: Label) -> DynamicLabel {
        match self.labels.get(l.0) {
            Some(&d) => d,
            None => {
                // Another emitter's label.
                self.error.get_or_insert(NativeError::Label);
                self.start
            }
        }
    }

    /// Puts label `l` here.
    pub fn bind(&mut self, l: Label) {
        let to = self.dynamic(l);
        dynasm!(self.ops ; .arch x64 ; =>to);
        self.window_checked = false;
        self.reachable = true;
    }

    /// Refuses a window access where no checked window index reaches.
    fn checked_window(&mut self) -> bool {
        if !self.window_checked {
            self.error.get_or_insert(NativeError::Unchecked);
        }
        self.window_checked
    }

    /// Goes on at label `l` when `A` is non-zero (`nonzero`) or zero (not `nonzero`).
    pub fn jump_if(&mut self, nonzero: bool, l: Label) {
        let to = self.dynamic(l);
        if nonzero {
            dynasm!(self.ops ; .arch x64 ; test rax, rax ; jnz =>to);
        } else {
            dynasm!(self.ops ; .arch x64 ; test rax, rax ; jz =>to);
        }
    }

    /// `k` as a 32-bit immediate, or the error that it is too large.
    fn imm(&mut self, k: u64) -> Option<i32> {
        let imm = i32::try_from(k).ok();
        if imm.is_none() {
            self.error
                .get_or_insert(NativeError::OutOfRange(k, i32::MAX as u64));
        }
        imm
    }

    /// Takes exit `e` when the room left is below `k`.
    pub fn exit_if_room_below(&mut self, k: u64, e: Exit) {
        let Some(k) = self.imm(k) else {
            return;
        };
        let to = self.exit_label(e);
        dynasm!(self.ops ; .arch x64 ; cmp r8, k ; jb =>to);
    }

    /// Counts `k` instructions off the room (after a check that it holds them).
    pub fn take_room(&mut self, k: u64) {
        let Some(k) = self.imm(k) else {
            return;
        };
        if k > 0 {
            dynasm!(self.ops ; .arch x64 ; sub r8, k);
        }
    }

    /// Goes on at the start of the code.
    pub fn restart(&mut self) {
        let start = self.start;
        dynasm!(self.ops ; .arch x64 ; jmp =>start);
        self.reachable = false;
    }

    /// Takes exit `e`.
    pub fn exit(&mut self, e: Exit) {
        let to = self.exit_label(e);
        dynasm!(self.ops ; .arch x64 ; jmp =>to);
        self.reachable = false;
    }

    /// Goes round to the start again, `len` less room, while the room left holds two laps of
    /// `len` (this one and the next, which the caller counts); otherwise takes exit `e`.
    pub fn lap(&mut self, len: u64, e: Exit) {
        let Some(len) = self.imm(len) else {
            return;
        };
        let Some(two) = len.checked_mul(2) else {
            self.error
                .get_or_insert(NativeError::OutOfRange(len as u64, i32::MAX as u64));
            return;
        };
        let to = self.exit_label(e);
        let start = self.start;
        dynasm!(self.ops
            ; .arch x64
            ; cmp r8, two
            ; jb =>to
            ; sub r8, len
            ; jmp =>start
        );
        self.reachable = false;
    }

    /// The code, ready to run, or the first error met.
    pub fn finish(mut self) -> Result<Native, NativeError> {
        if self.reachable {
            return Err(NativeError::FallsOff);
        }
        // Between the code and the stubs: nothing runs into a stub but through its jump.
        // Each stub names its exit by index, and one epilogue hands back the registers an
        // exit may read; `Native::run` makes the exit of them. A stub is two instructions,
        // so a region's dozens of exits cost little to emit.
        dynasm!(self.ops ; .arch x64 ; ud2);
        let leave = self.ops.new_dynamic_label();
        let exits = std::mem::take(&mut self.exits);
        for (k, (label, _)) in exits.iter().enumerate() {
            // Fewer exits than `i32::MAX`: each took bytes of code.
            let k = k as i32;
            dynasm!(self.ops ; .arch x64 ; =>*label ; mov ecx, DWORD k ; jmp =>leave);
        }
        dynasm!(self.ops
            ; .arch x64
            ; =>leave
            ; mov [rdi + 16], r8
            ; mov [rdi + 24], rax
            ; mov [rdi + 32], r10
            ; mov eax, ecx
            ; pop r15
            ; pop r14
            ; pop r13
            ; pop r12
            ; ret
        );
        if let Some(e) = self.error {
            return Err(e);
        }
        // A label bound twice or never is an error here.
        let bytes = self.ops.finalize().map_err(|_| NativeError::Label)?;
        let code = arena::place(&bytes)?;
        let ptr = code.ptr();
        // SAFETY: `ptr` is the start of the code emitted above, which begins with the prologue
        // and follows the System V convention for `Entry`: it reads its one argument as a
        // `Ctx`, touches only the memory the crate documentation lists, restores the four
        // callee-saved registers it pushed, and returns a `u32` in `eax` through `ret` on
        // every path (each path ends at an exit stub, whose jump to the epilogue pops them).
        // The mapping that holds it lives as long as the `Native` that holds this pointer, and
        // no byte of the code is written again once placed (see `arena`).
        #[allow(unsafe_code)]
        let entry = unsafe { std::mem::transmute::<*const u8, Entry>(ptr) };
        Ok(Native {
            code,
            exits: exits.into_iter().map(|(_, e)| e).collect(),
            entry,
            words: self.words,
        })
    }
}

/// Emitted code, ready to run. Cloning shares the code.
#[derive(Clone)]
pub struct Native {
    code: Placed,
    /// The exits, by the index the code leaves with.
    exits: Arc<[Exit]>,
    entry: Entry,
    words: u64,
}

impl fmt::Debug for Native {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Native({} bytes, {} words)", self.code.len(), self.words)
    }
}

impl Native {
    /// Runs the code on `mem` with code map `code` and `room` instructions of room (the code
    /// takes some through [`Emitter::lap`] and the exits), until it takes an exit, which
    /// comes back with the room left. Refuses memory or a code map shorter than the machine
    /// it was emitted for.
    #[inline]
    pub fn run(&self, mem: &mut [u64], code: &[u8], room: u64) -> Result<Left, NativeError> {
        if (mem.len() as u64) < self.words || (code.len() as u64) < self.words {
            return Err(NativeError::OutOfRange(
                self.words,
                mem.len().min(code.len()) as u64,
            ));
        }
        let mut ctx = Ctx {
            mem: mem.as_mut_ptr(),
            code: code.as_ptr(),
            room,
            a: 0,
            b: 0,
        };
        // SAFETY: `entry` is code this crate emitted (see `Emitter::finish`), still mapped
        // (`self.code` holds it). Every fixed index it uses is below `self.words`, and every
        // window index is below `l + lim <= self.words`, compared in the code before use;
        // `mem` and `code` were just checked to be at least that long, and `&mut` on `mem`
        // means nothing else reads or writes it meanwhile. `ctx` outlives the call.
        #[allow(unsafe_code)]
        let k = unsafe { (self.entry)(&mut ctx) };
        let e = self.exits.get(k as usize).ok_or(NativeError::Exit(k))?;
        Ok(Left {
            kind: e.kind,
            a: match e.a {
                Arg::Const(a) => a,
                Arg::A => ctx.a,
                Arg::Window => ctx.b,
            },
            b: e.b,
            // The code checked that the room holds them.
            room: ctx.room.saturating_sub(e.done),
        })
    }
}
