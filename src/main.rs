fn main() {
    std::process::exit(kinko_milter::cli::main());
}
