// Replay driver for fuzz targets built without libFuzzer: runs LLVMFuzzerTestOneInput on every
// file of the directories (or files) given on the command line, plus a few built-in edge inputs,
// so every target is compiled and exercised (under ASan/UBSan in the sanitizer build) by ctest.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {
void run(const std::string& bytes) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}
} // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> edge = {"", "\r", "\n", "\r\n", std::string(1, '\0'),
                                           std::string(5000, 'A'), "\r\n.\r\n", "{999999}\r\n"};
    for (const auto& e : edge) run(e);
    std::size_t n = edge.size();
    for (int i = 1; i < argc; ++i) {
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
            std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            run(bytes);
            ++n;
        }
    }
    std::printf("replay: %zu inputs ran without a crash\n", n);
    return 0;
}
