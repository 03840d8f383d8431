// Minimal .npy reading and writing for the testbenches: C-order arrays of one fixed dtype.
#ifndef RUBICON_NPY_H
#define RUBICON_NPY_H
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace rubicon {

template <typename T> const char *npy_descr();
template <> inline const char *npy_descr<int64_t>() { return "<i8"; }
template <> inline const char *npy_descr<uint64_t>() { return "<u8"; }
template <> inline const char *npy_descr<int32_t>() { return "<i4"; }

[[noreturn]] inline void npy_fail(const std::string &path, const std::string &why) {
    std::fprintf(stderr, "error: %s: %s\n", path.c_str(), why.c_str());
    std::exit(2);
}

// Reads an array of dtype T; returns the data and fills `shape`.
template <typename T>
std::vector<T> load_npy(const std::string &path, std::vector<size_t> &shape) {
    std::ifstream f(path, std::ios::binary);
    if (!f) npy_fail(path, "cannot open");
    char magic[8];
    f.read(magic, 8);
    if (!f || std::memcmp(magic, "\x93NUMPY", 6) != 0) npy_fail(path, "not a .npy file");
    uint32_t hlen = 0;
    if (magic[6] == 1) {
        uint16_t h16;
        f.read(reinterpret_cast<char *>(&h16), 2);
        hlen = h16;
    } else {
        f.read(reinterpret_cast<char *>(&hlen), 4);
    }
    std::string header(hlen, ' ');
    f.read(&header[0], hlen);
    if (header.find(npy_descr<T>()) == std::string::npos) npy_fail(path, std::string("dtype must be ") + npy_descr<T>());
    if (header.find("'fortran_order': False") == std::string::npos) npy_fail(path, "must be C-ordered");
    const size_t open = header.find('(', header.find("'shape'")), close = header.find(')', open);
    std::stringstream dims(header.substr(open + 1, close - open - 1));
    shape.clear();
    size_t count = 1;
    for (std::string item; std::getline(dims, item, ',');) {
        if (item.find_first_not_of(" ") == std::string::npos) continue;
        shape.push_back(std::stoull(item));
        count *= shape.back();
    }
    std::vector<T> data(count);
    f.read(reinterpret_cast<char *>(data.data()), count * sizeof(T));
    if (!f) npy_fail(path, "truncated data");
    return data;
}

template <typename T>
void save_npy(const std::string &path, const std::vector<T> &data, const std::vector<size_t> &shape) {
    std::string dims;
    for (size_t d : shape) dims += std::to_string(d) + ",";
    std::string header = std::string("{'descr': '") + npy_descr<T>() + "', 'fortran_order': False, 'shape': (" + dims + "), }";
    while ((10 + header.size() + 1) % 64) header += ' ';
    header += '\n';
    const std::string tmp = path + ".partial";
    std::ofstream f(tmp, std::ios::binary);
    f.write("\x93NUMPY\x01\x00", 8);
    const uint16_t hlen = header.size();
    f.write(reinterpret_cast<const char *>(&hlen), 2);
    f.write(header.data(), header.size());
    f.write(reinterpret_cast<const char *>(data.data()), data.size() * sizeof(T));
    f.close();
    if (!f || std::rename(tmp.c_str(), path.c_str()) != 0) npy_fail(path, "cannot write");
}

}  // namespace rubicon
#endif
