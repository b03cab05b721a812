#pragma once
// Runs a helper program (`wg show ...`) for `splitmail check` without a shell and collects its
// output, with a time limit.
//
// Guarantees: argv is passed as is (no shell, so names from the site file cannot inject
// commands); stdout and stderr are collected together, at most 64 KiB; a program still running
// after the limit is killed. not_found is set when the program does not exist on PATH.
// Does not: pass stdin (the child's stdin is /dev/null).
#include <chrono>
#include <string>
#include <vector>

namespace splitmail::provision::check {

struct program_result {
    bool not_found = false; // exec failed with ENOENT
    bool timed_out = false;
    int exit_code = -1; // -1 when it did not exit normally
    std::string output; // stdout + stderr
};

program_result run_program(const std::vector<std::string>& argv, std::chrono::milliseconds limit);

} // namespace splitmail::provision::check
