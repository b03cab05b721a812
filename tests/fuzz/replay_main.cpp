// Replay driver for fuzz targets built without libFuzzer: `fuzz_replay NAME CORPUS...` runs the
// target NAME on every file of the directories (or files) given, plus a few built-in edge
// inputs, so every target is compiled and exercised (under ASan/UBSan in the sanitizer build)
// by ctest. All targets live in this one program: tests/CMakeLists.txt renames each target's
// LLVMFuzzerTestOneInput to splitmail_fuzz_<name> and lists them in fuzz_targets.inc.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_targets.inc"

int main(int argc, char** argv) {
    const fuzz_entry* target = nullptr;
    if (argc >= 2)
        for (const auto& t : fuzz_targets)
            if (std::strcmp(t.name, argv[1]) == 0) target = &t;
    if (target == nullptr) {
        std::fprintf(stderr, "usage: fuzz_replay TARGET [CORPUS_DIR_OR_FILE...]\ntargets:");
        for (const auto& t : fuzz_targets) std::fprintf(stderr, " %s", t.name);
        std::fprintf(stderr, "\n");
        return 2;
    }
    auto run = [&](const std::string& bytes) {
        target->run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    };
    const std::vector<std::string> edge = {
        "",          "\r",          "\n", "\r\n", std::string(1, '\0'), std::string(5000, 'A'),
        "\r\n.\r\n", "{999999}\r\n"};
    for (const auto& e : edge) run(e);
    std::size_t n = edge.size();
    for (int i = 2; i < argc; ++i) {
        std::filesystem::path p(argv[i]);
        if (!std::filesystem::exists(p)) {
            std::fprintf(stderr, "replay: corpus %s does not exist\n", argv[i]);
            return 1;
        }
        std::vector<std::filesystem::path> files;
        if (std::filesystem::is_directory(p)) {
            for (const auto& e : std::filesystem::recursive_directory_iterator(p))
                if (e.is_regular_file()) files.push_back(e.path());
        } else {
            files.push_back(p);
        }
        for (const auto& f : files) {
            std::ifstream in(f, std::ios::binary);
            std::string bytes((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
            run(bytes);
            ++n;
        }
    }
    std::printf("replay: %s: %zu inputs ran without a crash\n", target->name, n);
    return 0;
}
