#pragma once
// A read-only mmap of a file, unmapped when the owner goes. Used where a file is read where
// it lies in the page cache instead of being copied into fresh memory: the folder index
// snapshot (folder_index.cpp) and the SORT/THREAD header cache (header_cache.cpp). Both
// files are only ever replaced by rename, never written in place, so a mapping stays valid
// (it keeps the old inode) until it is dropped.
#include <cstddef>
#include <string_view>
#include <utility>

namespace splitmail::home::imap {

struct file_mapping {
    void* addr = nullptr;
    std::size_t len = 0;
    file_mapping() = default;
    file_mapping(void* a, std::size_t l) : addr(a), len(l) {}
    file_mapping(file_mapping&& o) noexcept
        : addr(std::exchange(o.addr, nullptr)), len(std::exchange(o.len, 0)) {}
    file_mapping& operator=(file_mapping&& o) noexcept;
    ~file_mapping();
    std::string_view view() const { return {static_cast<const char*>(addr), addr ? len : 0}; }
};

} // namespace splitmail::home::imap
