#pragma once
// Private to common/src/durable: the test hooks of durable/file.hpp (test_hooks) as file.cpp
// and the committer consult them. Each returns 0 (no hook, or the hook lets the step run) or
// the errno the step is to fail with. (No include of file.hpp: the committer has private
// helpers named like its functions.)

namespace splitmail::durable::detail {

int injected_fsync_error(int fd, bool directory);
int injected_write_error();  // before a write(2) of file content
int injected_rename_error(); // before a rename or link that gives a file its final name

} // namespace splitmail::durable::detail
