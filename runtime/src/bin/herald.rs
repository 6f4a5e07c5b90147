//! `herald`: inspect herald event stores from the command line (`herald --help`).
//!
//! Built with `--features cli`; the commands live in the library's `cli` module.

fn main() -> std::process::ExitCode {
    herald::cli::main()
}
