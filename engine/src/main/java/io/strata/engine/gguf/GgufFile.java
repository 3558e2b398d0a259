package io.strata.engine.gguf;

import io.strata.engine.tensor.GgmlType;
import io.strata.engine.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A GGUF (v2/v3) model file, or a split model ({@code name-00001-of-00005.gguf}), mapped read-only.
 *
 * <p>Opening parses the header (metadata and tensor infos) and checks every offset and size against the file, so
 * a malformed file fails here with a {@link GgufException} naming the file, the field and the offset, never later
 * with a JVM crash or a silent wrong result. Tensor data stays in the map and is paged in only when read: a
 * pipeline stage that touches only its own layers' tensors never reads the rest of the file.
 */
public final class GgufFile implements AutoCloseable {

    public static final int MAGIC = 0x46554747; // "GGUF" little-endian
    public static final int DEFAULT_ALIGNMENT = 32;
    private static final int MAX_DIMS = 4;
    /** Largest length of a Java array (and string) with some headroom, as the JDK's own limit. */
    private static final long MAX_JAVA_ARRAY = Integer.MAX_VALUE - 8;
    /**
     * Heap that one file's metadata arrays may take (a quarter of the JVM's): real vocabularies need tens of MiB, and a
     * corrupt length is refused with its key and offset instead of ending in an OutOfMemoryError.
     */
    static final long ARRAY_BUDGET = Runtime.getRuntime().maxMemory() / 4;
    /** Arrays of arrays deeper than this are refused (ggml refuses any nesting; this only bounds the recursion). */
    private static final int MAX_ARRAY_DEPTH = 16;
    private static final Pattern SPLIT_NAME = Pattern.compile("(.*)-(\\d{5})-of-(\\d{5})\\.gguf");
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** One mapped file of the model. */
    private record Part(Path path, MemorySegment map, int version, long dataOffset, long headerBytes) {}

    private final Arena arena;
    private final List<Part> parts;
    private final Metadata metadata;
    private final Map<String, TensorInfo> tensors;
    private final int alignment;

    private GgufFile(Arena arena, List<Part> parts, Metadata metadata, Map<String, TensorInfo> tensors, int alignment) {
        this.arena = arena;
        this.parts = parts;
        this.metadata = metadata;
        this.tensors = tensors;
        this.alignment = alignment;
    }

    /**
     * Opens a GGUF file. A file named {@code X-00001-of-0000N.gguf} (or any part of such a set) opens the whole set;
     * its tensors are looked up across all parts.
     */
    public static GgufFile open(Path path) {
        Path first = path;
        int count = 1;
        Matcher m = SPLIT_NAME.matcher(path.getFileName().toString());
        if (m.matches()) {
            count = Integer.parseInt(m.group(3));
            int no = Integer.parseInt(m.group(2));
            if (count < 1 || no < 1 || no > count) {
                throw new GgufException(path, "file name", -1, "split part " + no + " of " + count + " is not a valid part number");
            }
            first = path.resolveSibling(String.format("%s-%05d-of-%05d.gguf", m.group(1), 1, count));
        }
        Arena arena = Arena.ofShared();
        try {
            List<Part> parts = new ArrayList<>();
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            Metadata firstMeta = null;
            int alignment = DEFAULT_ALIGNMENT;
            for (int i = 0; i < count; i++) {
                Path p = i == 0 ? first : path.resolveSibling(String.format("%s-%05d-of-%05d.gguf", m.group(1), i + 1, count));
                MemorySegment seg = map(arena, p);
                MapAdvice.random(seg, 0);
                Parser parser = new Parser(p, seg, i, tensors);
                Metadata meta = parser.parse();
                if (i == 0) {
                    firstMeta = meta;
                    alignment = parser.alignment;
                    int declared = meta.getInt("split.count", 1);
                    if (declared != count) {
                        throw new GgufException(p, "split.count", meta.has("split.count") ? meta.entry("split.count").offset() : -1,
                                "the file name says " + count + " parts but the metadata says " + declared);
                    }
                } else if (meta.getInt("split.no", -1) != i) {
                    throw new GgufException(p, "split.no", -1, "expected part index " + i + " but found " + meta.get("split.no"));
                }
                parts.add(new Part(p, parser.seg, parser.version, parser.dataOffset, parser.dataOffset));
            }
            if (firstMeta.has("split.tensors.count") && firstMeta.getInt("split.tensors.count") != tensors.size()) {
                throw new GgufException(first, "split.tensors.count", firstMeta.entry("split.tensors.count").offset(),
                        "declares " + firstMeta.getInt("split.tensors.count") + " tensors but the parts hold " + tensors.size());
            }
            return new GgufFile(arena, List.copyOf(parts), firstMeta, Collections.unmodifiableMap(tensors), alignment);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static MemorySegment map(Arena arena, Path p) {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size == 0) throw new GgufException(p, "file", 0, "the file is empty");
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (NoSuchFileException e) {
            throw new GgufException(p, "file", -1, "no such file");
        } catch (IOException e) {
            throw new GgufException(p, "file", -1, "cannot map: " + e.getMessage(), e);
        }
    }

    public Path path() {
        return parts.getFirst().path();
    }

    public List<Path> paths() {
        return parts.stream().map(Part::path).toList();
    }

    public int version() {
        return parts.getFirst().version();
    }

    public int alignment() {
        return alignment;
    }

    public Metadata metadata() {
        return metadata;
    }

    /** Tensor infos in file order (all parts). */
    public Map<String, TensorInfo> tensorInfos() {
        return tensors;
    }

    public boolean hasTensor(String name) {
        return tensors.containsKey(name);
    }

    /** The named tensor as a view into the map; throws naming the file when it is absent. */
    public Tensor tensor(String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) throw new GgufException(path(), name, -1, "required tensor is missing");
        return view(info);
    }

    /** The named tensor, or null when absent. */
    public Tensor findTensor(String name) {
        TensorInfo info = tensors.get(name);
        return info == null ? null : view(info);
    }

    private Tensor view(TensorInfo info) {
        return new Tensor(info.name(), info.type(), info.shape(), parts.get(info.split()).map().asSlice(info.fileOffset(), info.bytes()));
    }

    /** Total bytes of tensor data. */
    public long tensorBytes() {
        long n = 0;
        for (TensorInfo t : tensors.values()) n += t.bytes();
        return n;
    }

    /**
     * A stable identity of the model: SHA-256 over the header bytes (metadata and tensor infos) of every part.
     * Cheap (no tensor data is read) and changes with any change of shape, type, layout or metadata.
     */
    public String fingerprint() {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (Part p : parts) {
                md.update(p.map().asSlice(0, p.headerBytes()).asByteBuffer());
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        arena.close();
    }

    /** Bounds-checked reader of one file's header. */
    private static final class Parser {
        final Path path;
        final MemorySegment seg;
        final long size;
        final int split;
        final Map<String, TensorInfo> tensors;
        long pos;
        int version;
        int alignment = DEFAULT_ALIGNMENT;
        long dataOffset;
        long arrayBytes; // heap the arrays read so far take

        Parser(Path path, MemorySegment seg, int split, Map<String, TensorInfo> tensors) {
            this.path = path;
            this.seg = seg;
            this.size = seg.byteSize();
            this.split = split;
            this.tensors = tensors;
        }

        GgufException error(String field, long at, String message) {
            return new GgufException(path, field, at, message);
        }

        void need(String field, long bytes) {
            if (bytes < 0 || pos + bytes > size || pos + bytes < pos) {
                throw error(field, pos, "truncated: needs " + Long.toUnsignedString(bytes) + " bytes but the file ends at " + size);
            }
        }

        /** Checks that {@code bytes} remain, moves past them and returns where they start. */
        long take(String field, long bytes) {
            need(field, bytes);
            long at = pos;
            pos += bytes;
            return at;
        }

        int u32(String field) {
            need(field, 4);
            int v = seg.get(U32, pos);
            pos += 4;
            return v;
        }

        long u64(String field) {
            need(field, 8);
            long v = seg.get(U64, pos);
            pos += 8;
            return v;
        }

        /**
         * Reads a string's length at {@code pos} and moves past it, checked against the file; {@code index >= 0}:
         * element {@code index} of the array {@code field}, whose name is built only for an error (a vocabulary has
         * hundreds of thousands of strings).
         */
        long stringLength(String field, int index) {
            long at = pos;
            if (size - pos < 8) need((index < 0 ? field : field + "[" + index + "]") + " (string length)", 8);
            long len = seg.get(U64, pos);
            pos += 8;
            if (len < 0 || len > size - pos) {
                throw error(index < 0 ? field : field + "[" + index + "]", at, "string length " + Long.toUnsignedString(len)
                        + " runs past the end of the file (" + size + " bytes)");
            }
            return len;
        }

        String string(String field) {
            long at = pos;
            long len = stringLength(field, -1);
            if (len > MAX_JAVA_ARRAY) throw error(field, at, "string length " + len + " is larger than a Java string can hold");
            byte[] bytes = new byte[(int) len];
            MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, pos, bytes, 0, (int) len);
            pos += len;
            return new String(bytes, StandardCharsets.UTF_8);
        }

        /** Adds {@code bytes} to the heap the header's arrays take; refuses {@code what} when that passes the budget. */
        void charge(String key, long at, long bytes, String what) {
            arrayBytes += bytes;
            if (arrayBytes > ARRAY_BUDGET) {
                throw error(key, at, what + " would take the header's arrays to " + (arrayBytes >> 20) + " MiB of heap, more than the "
                        + (ARRAY_BUDGET >> 20) + " MiB allowed for metadata (a quarter of the heap)");
            }
        }

        /**
         * An array of {@code len} strings at {@code pos}: each length checked against the file, the bytes copied once
         * and left undecoded ({@link GgufStrings}).
         */
        GgufStrings strings(String key, int len) {
            long from = pos;
            int[] starts = new int[len];
            for (int i = 0; i < len; i++) {
                long at = pos;
                long n = stringLength(key, i);
                if (pos + n - from > MAX_JAVA_ARRAY) {
                    throw error(key + "[" + i + "]", at, "the array's strings take more bytes than a Java array can hold");
                }
                starts[i] = (int) (pos - from);
                pos += n;
            }
            charge(key, from - 8, pos - from, "the array's strings");
            byte[] data = new byte[(int) (pos - from)];
            MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, from, data, 0, data.length);
            return new GgufStrings(data, starts);
        }

        Metadata parse() {
            need("magic", 4);
            int magic = u32("magic");
            if (magic != MAGIC) {
                throw error("magic", 0, String.format("not a GGUF file (magic 0x%08x, expected 0x%08x \"GGUF\")", magic, MAGIC));
            }
            long vAt = pos;
            version = u32("version");
            if (version != 2 && version != 3) {
                throw error("version", vAt, "unsupported GGUF version " + Integer.toUnsignedString(version) + " (supported: 2, 3)");
            }
            long tcAt = pos;
            long tensorCount = u64("tensor_count");
            long kcAt = pos;
            long kvCount = u64("metadata_kv_count");
            // Each tensor info takes at least 8+4+8+4+8 bytes, each KV at least 8+4 bytes.
            if (tensorCount < 0 || tensorCount > (size - pos) / 32) {
                throw error("tensor_count", tcAt, "tensor count " + Long.toUnsignedString(tensorCount) + " cannot fit in a file of " + size + " bytes");
            }
            if (kvCount < 0 || kvCount > (size - pos) / 12) {
                throw error("metadata_kv_count", kcAt, "metadata count " + Long.toUnsignedString(kvCount) + " cannot fit in a file of " + size + " bytes");
            }
            Map<String, Metadata.Entry> entries = new LinkedHashMap<>();
            for (long i = 0; i < kvCount; i++) {
                long at = pos;
                String key = string("metadata key #" + i);
                if (entries.containsKey(key)) throw error(key, at, "duplicate metadata key");
                long typeAt = pos;
                int typeId = u32(key + " (type)");
                GgufValueType type = GgufValueType.byId(typeId);
                if (type == null) throw error(key, typeAt, "unknown metadata value type " + Integer.toUnsignedString(typeId));
                long valueAt = pos;
                if (type == GgufValueType.ARRAY) {
                    long etAt = pos;
                    int etId = u32(key + " (array element type)");
                    GgufValueType et = GgufValueType.byId(etId);
                    if (et == null) throw error(key, etAt, "unknown array element type " + Integer.toUnsignedString(etId));
                    Object value = readArray(key, et, 1);
                    entries.put(key, new Metadata.Entry(type, et, value, valueAt));
                } else {
                    entries.put(key, new Metadata.Entry(type, null, readScalar(key, type), valueAt));
                }
            }
            Metadata meta = new Metadata(path, entries);
            if (meta.has("general.alignment")) {
                Metadata.Entry e = meta.entry("general.alignment");
                long a = meta.getLong("general.alignment");
                if (a <= 0 || a > (1 << 20) || (a & (a - 1)) != 0) {
                    throw error("general.alignment", e.offset(), "alignment " + a + " is not a power of two in [1, 2^20]");
                }
                alignment = (int) a;
            }
            List<long[]> ranges = new ArrayList<>();
            List<TensorInfo> infos = new ArrayList<>();
            List<Long> infoAt = new ArrayList<>();
            for (long i = 0; i < tensorCount; i++) {
                long at = pos;
                String name = string("tensor info #" + i + " name");
                if (tensors.containsKey(name)) throw error(name, at, "duplicate tensor name");
                long ndAt = pos;
                int nDims = u32(name + " n_dims");
                if (nDims < 1 || nDims > MAX_DIMS) throw error(name, ndAt, "n_dims " + Integer.toUnsignedString(nDims) + " not in [1, " + MAX_DIMS + "]");
                long[] shape = new long[nDims];
                long elements = 1;
                for (int d = 0; d < nDims; d++) {
                    long dAt = pos;
                    shape[d] = u64(name + " ne[" + d + "]");
                    if (shape[d] <= 0 || shape[d] > (1L << 40)) throw error(name, dAt, "dimension " + d + " = " + Long.toUnsignedString(shape[d]) + " is out of range");
                    try {
                        elements = Math.multiplyExact(elements, shape[d]);
                    } catch (ArithmeticException e) {
                        throw error(name, dAt, "element count overflows");
                    }
                }
                long typeAt = pos;
                int typeId = u32(name + " type");
                GgmlType type = GgmlType.byId(typeId);
                if (type == null || type == GgmlType.Q8_K) {
                    throw error(name, typeAt, "unsupported tensor type " + GgmlType.ggmlName(typeId) + " (id " + typeId + ")");
                }
                if (shape[0] % type.blockSize != 0) {
                    throw error(name, typeAt, "row length " + shape[0] + " is not a multiple of " + type + "'s block size " + type.blockSize);
                }
                long offAt = pos;
                long offset = u64(name + " offset");
                if (offset < 0 || offset % alignment != 0) {
                    throw error(name, offAt, "data offset " + Long.toUnsignedString(offset) + " is not a multiple of the alignment " + alignment);
                }
                if (elements / type.blockSize > Long.MAX_VALUE / type.typeSize) {
                    throw error(name, typeAt, "size in bytes of " + elements + " " + type + " elements overflows");
                }
                long bytes = type.byteSize(elements);
                infos.add(new TensorInfo(name, type, shape, split, offset, bytes));
                infoAt.add(offAt);
                tensors.put(name, null); // reserve the name (duplicate check); filled below
            }
            long headerEnd = pos;
            dataOffset = (headerEnd + alignment - 1) / alignment * alignment;
            if (tensorCount > 0 && dataOffset > size) {
                throw error("tensor data", headerEnd, "truncated: the data section would start at " + dataOffset + " but the file has " + size + " bytes");
            }
            for (int i = 0; i < infos.size(); i++) {
                TensorInfo t = infos.get(i);
                long start = dataOffset + t.fileOffset();
                if (start < dataOffset || t.bytes() > size - start || start > size) {
                    throw error(t.name(), infoAt.get(i), "data [" + t.fileOffset() + ", +" + t.bytes() + ") relative to the data section at "
                            + dataOffset + " runs past the end of the file (" + size + " bytes)");
                }
                ranges.add(new long[]{start, start + t.bytes(), i});
                tensors.put(t.name(), new TensorInfo(t.name(), t.type(), t.shape(), split, start, t.bytes()));
            }
            ranges.sort((a, b) -> Long.compare(a[0], b[0]));
            for (int i = 1; i < ranges.size(); i++) {
                if (ranges.get(i)[0] < ranges.get(i - 1)[1]) {
                    TensorInfo a = infos.get((int) ranges.get(i - 1)[2]);
                    TensorInfo b = infos.get((int) ranges.get(i)[2]);
                    throw error(b.name(), infoAt.get((int) ranges.get(i)[2]), "data overlaps tensor " + a.name());
                }
            }
            return meta;
        }

        Object readScalar(String key, GgufValueType type) {
            need(key, type.size > 0 ? type.size : 8);
            return switch (type) {
                case UINT8 -> { int v = seg.get(ValueLayout.JAVA_BYTE, pos) & 0xff; pos += 1; yield v; }
                case INT8 -> { int v = seg.get(ValueLayout.JAVA_BYTE, pos); pos += 1; yield v; }
                case UINT16 -> { int v = seg.get(U16, pos) & 0xffff; pos += 2; yield v; }
                case INT16 -> { int v = seg.get(U16, pos); pos += 2; yield v; }
                case UINT32 -> { long v = seg.get(U32, pos) & 0xffffffffL; pos += 4; yield v; }
                case INT32 -> { int v = seg.get(U32, pos); pos += 4; yield v; }
                case FLOAT32 -> { float v = seg.get(F32, pos); pos += 4; yield v; }
                case BOOL -> {
                    int b = seg.get(ValueLayout.JAVA_BYTE, pos);
                    if (b != 0 && b != 1) throw error(key, pos, "bool value " + b + " is neither 0 nor 1");
                    pos += 1;
                    yield b == 1;
                }
                case STRING -> string(key);
                case UINT64, INT64 -> { long v = seg.get(U64, pos); pos += 8; yield v; }
                case FLOAT64 -> { double v = seg.get(F64, pos); pos += 8; yield v; }
                case ARRAY -> throw new IllegalStateException("arrays are read by readArray");
            };
        }

        Object readArray(String key, GgufValueType et, int depth) {
            long at = pos;
            long n = u64(key + " (array length)");
            long minBytes = et.size > 0 ? et.size : 8;
            if (n < 0 || n > (size - pos) / minBytes) {
                throw error(key, at, "array length " + Long.toUnsignedString(n) + " runs past the end of the file (" + size + " bytes)");
            }
            if (n > MAX_JAVA_ARRAY) {
                throw error(key, at, "array length " + n + " is larger than a Java array can hold");
            }
            // a length that fits the file may still be a lie (e.g. over zeros, which read as empty strings): refuse
            // to allocate more than the budget for all of the header's arrays rather than run out of heap
            long javaBytes = n * switch (et) {
                case UINT32, UINT64, INT64, FLOAT64 -> 8L;
                case BOOL -> 1L;
                case ARRAY -> 32L; // an entry object per inner array
                default -> 4L;     // int[], float[], and a string's start offset
            };
            charge(key, at, javaBytes, "array length " + n);
            int len = (int) n;
            switch (et) {
                case INT32 -> {
                    int[] a = new int[len];
                    MemorySegment.copy(seg, U32, take(key, 4L * len), a, 0, len);
                    return a;
                }
                case UINT8, INT8, UINT16, INT16 -> {
                    int[] a = new int[len];
                    for (int i = 0; i < len; i++) a[i] = (Integer) readScalar(key, et);
                    return a;
                }
                case UINT32, UINT64, INT64 -> {
                    long[] a = new long[len];
                    for (int i = 0; i < len; i++) a[i] = (Long) readScalar(key, et);
                    return a;
                }
                case FLOAT32 -> {
                    float[] a = new float[len];
                    MemorySegment.copy(seg, F32, take(key, 4L * len), a, 0, len);
                    return a;
                }
                case FLOAT64 -> {
                    double[] a = new double[len];
                    for (int i = 0; i < len; i++) a[i] = (Double) readScalar(key, et);
                    return a;
                }
                case BOOL -> {
                    boolean[] a = new boolean[len];
                    for (int i = 0; i < len; i++) a[i] = (Boolean) readScalar(key, et);
                    return a;
                }
                case STRING -> {
                    return strings(key, len);
                }
                case ARRAY -> {
                    if (depth >= MAX_ARRAY_DEPTH) throw error(key, at, "arrays nested deeper than " + MAX_ARRAY_DEPTH + " levels");
                    Metadata.Entry[] a = new Metadata.Entry[len];
                    for (int i = 0; i < len; i++) {
                        long etAt = pos;
                        int id = u32(key + "[" + i + "] (element type)");
                        GgufValueType inner = GgufValueType.byId(id);
                        if (inner == null) throw error(key, etAt, "unknown array element type " + Integer.toUnsignedString(id));
                        long valueAt = pos;
                        a[i] = new Metadata.Entry(GgufValueType.ARRAY, inner, readArray(key + "[" + i + "]", inner, depth + 1), valueAt);
                    }
                    return a;
                }
            }
            throw new IllegalStateException("unreachable");
        }
    }

    /** Whether a path looks like a GGUF file (by magic), without raising. */
    public static boolean looksLikeGguf(Path p) {
        try (var in = Files.newInputStream(p)) {
            byte[] b = in.readNBytes(4);
            return b.length == 4 && b[0] == 'G' && b[1] == 'G' && b[2] == 'U' && b[3] == 'F';
        } catch (IOException e) {
            return false;
        }
    }
}
