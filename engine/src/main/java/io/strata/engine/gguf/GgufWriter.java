package io.strata.engine.gguf;

import io.strata.engine.tensor.GgmlType;
import io.strata.engine.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes GGUF v3 files in the layout ggml's own writer ({@code gguf_write_to_file}) produces, so a file read with
 * {@link GgufFile} and written back comes out byte for byte the same:
 *
 * <pre>
 *   u32 magic "GGUF" | u32 version 3 | u64 tensor count | u64 metadata count
 *   metadata:     string key | u32 type | value            (array: u32 element type | u64 count | elements)
 *   tensor infos: string name | u32 n_dims | u64 ne[n_dims] | u32 ggml type | u64 offset
 *   zero padding to the alignment ({@code general.alignment}, a UINT32 power of two; default 32)
 *   tensor data:  each tensor at its offset relative to the data section, followed by zero padding to the alignment
 * </pre>
 *
 * <p>Offsets are packed: each tensor starts where the previous one's padded data ends, in the order the tensors
 * were added. Tensor data is streamed: the writer asks each tensor's {@link TensorData} for its bytes in file
 * order, through a fixed-size buffer, so a model larger than memory can be written from a generator or copied
 * from a mapped file. The header (metadata and tensor infos) is built in memory; it is small next to the data.
 *
 * <p>{@link #writeSplit} writes the same content as several files {@code prefix-00001-of-0000N.gguf} the way
 * llama.cpp's {@code gguf-split} does: the first part holds all metadata, every part holds {@code split.no}
 * (UINT16, from 0), {@code split.count} (UINT16) and {@code split.tensors.count} (INT32, all parts' tensors), and
 * each part's tensor offsets are relative to its own data section. Files are written under a temporary name and
 * moved into place when complete, so a failed write leaves no half-written model behind.
 *
 * <p>Metadata values are Java objects by GGUF type, as {@link Metadata} returns them: {@link Integer} for
 * UINT8/INT8/UINT16/INT16/INT32, {@link Long} (or Integer) for UINT32/UINT64/INT64 (UINT64 as the unsigned bits),
 * {@link Float} for FLOAT32, {@link Double} for FLOAT64, {@link Boolean}, {@link String}. Arrays: {@code int[]} or
 * {@code long[]} for integer element types, {@code float[]}, {@code double[]}, {@code boolean[]}, {@code String[]},
 * and {@code Metadata.Entry[]} (each an ARRAY entry) for arrays of arrays. Note that ggml's reader refuses arrays
 * of arrays; the format allows them and this writer writes them, but a model file for llama.cpp must not use them.
 */
public final class GgufWriter {

    public static final int VERSION = 3;
    /** Bytes buffered between the tensor sources and the file. */
    private static final int BUFFER_BYTES = 8 << 20;

    /** Produces one tensor's bytes, in order, into a sink; must write exactly the tensor's size. */
    @FunctionalInterface
    public interface TensorData {
        void writeTo(Sink sink) throws IOException;

        /** The bytes of an existing segment (for example a tensor mapped from another GGUF file). */
        static TensorData of(MemorySegment bytes) {
            return sink -> sink.write(bytes);
        }

        /** The bytes of an array. */
        static TensorData of(byte[] bytes) {
            return sink -> sink.write(MemorySegment.ofArray(bytes));
        }
    }

    /** Where a {@link TensorData} writes its bytes. */
    public interface Sink {
        /** Appends all bytes of {@code bytes}. */
        void write(MemorySegment bytes) throws IOException;

        /** Bytes written so far for the current tensor. */
        long written();
    }

    /** A tensor to write: name, type, ggml shape ({@code shape[0]} contiguous) and the source of its data. */
    public record TensorEntry(String name, GgmlType type, long[] shape, long bytes, TensorData data) {
        public TensorEntry {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }
    }

    private final Map<String, Metadata.Entry> metadata = new LinkedHashMap<>();
    private final Map<String, TensorEntry> tensors = new LinkedHashMap<>();

    /**
     * A writer holding the metadata (except {@code split.*}) and tensors of {@code source}, in its order, data read
     * from its map when written: keep {@code source} open until then.
     */
    public static GgufWriter copyOf(GgufFile source) {
        GgufWriter w = new GgufWriter();
        w.putAll(source.metadata());
        for (TensorInfo t : source.tensorInfos().values()) {
            Tensor view = source.tensor(t.name());
            w.addTensor(t.name(), t.type(), t.shape(), TensorData.of(view.data()));
        }
        return w;
    }

    // ------------------------------------------------------------------ metadata

    /** Sets a scalar value (replacing an existing key in place). */
    public GgufWriter put(String key, GgufValueType type, Object value) {
        if (type == GgufValueType.ARRAY) throw new IllegalArgumentException(key + ": use putArray for arrays");
        checkKey(key);
        checkScalar(key, type, value);
        metadata.put(key, new Metadata.Entry(type, null, value, -1));
        return this;
    }

    /** Sets an array value; {@code values} is a Java array matching {@code elementType} (see the class comment). */
    public GgufWriter putArray(String key, GgufValueType elementType, Object values) {
        checkKey(key);
        checkArray(key, elementType, values, 1);
        metadata.put(key, new Metadata.Entry(GgufValueType.ARRAY, elementType, values, -1));
        return this;
    }

    public GgufWriter putString(String key, String value) {
        return put(key, GgufValueType.STRING, value);
    }

    public GgufWriter putUInt32(String key, long value) {
        return put(key, GgufValueType.UINT32, value);
    }

    public GgufWriter putInt32(String key, int value) {
        return put(key, GgufValueType.INT32, value);
    }

    public GgufWriter putFloat32(String key, float value) {
        return put(key, GgufValueType.FLOAT32, value);
    }

    public GgufWriter putBool(String key, boolean value) {
        return put(key, GgufValueType.BOOL, value);
    }

    /** Copies every entry of {@code source} with its type, except the {@code split.*} keys (they describe a layout). */
    public GgufWriter putAll(Metadata source) {
        for (Map.Entry<String, Metadata.Entry> e : source.entries().entrySet()) {
            if (e.getKey().startsWith("split.")) continue;
            Metadata.Entry v = e.getValue();
            if (v.type() == GgufValueType.ARRAY) putArray(e.getKey(), v.elementType(), v.value());
            else put(e.getKey(), v.type(), v.value());
        }
        return this;
    }

    public GgufWriter remove(String key) {
        metadata.remove(key);
        return this;
    }

    /** The metadata set so far, in write order. */
    public Map<String, Metadata.Entry> metadata() {
        return Collections.unmodifiableMap(metadata);
    }

    // ------------------------------------------------------------------ tensors

    /** Adds a tensor; its data is asked for only when the file is written. */
    public GgufWriter addTensor(String name, GgmlType type, long[] shape, TensorData data) {
        if (name == null || name.isEmpty()) throw new IllegalArgumentException("tensor name is empty");
        if (tensors.containsKey(name)) throw new IllegalArgumentException(name + ": duplicate tensor name");
        if (type == GgmlType.Q8_K) throw new IllegalArgumentException(name + ": Q8_K is an activation type, not a GGUF tensor type");
        if (shape.length < 1 || shape.length > 4) throw new IllegalArgumentException(name + ": " + shape.length + " dimensions, expected 1 to 4");
        long elements = 1;
        for (int d = 0; d < shape.length; d++) {
            if (shape[d] <= 0) throw new IllegalArgumentException(name + ": dimension " + d + " = " + shape[d] + " must be positive");
            elements = Math.multiplyExact(elements, shape[d]);
        }
        if (shape[0] % type.blockSize != 0) {
            throw new IllegalArgumentException(name + ": row length " + shape[0] + " is not a multiple of " + type + "'s block size " + type.blockSize);
        }
        long bytes = Math.multiplyExact(elements / type.blockSize, (long) type.typeSize);
        tensors.put(name, new TensorEntry(name, type, shape, bytes, data));
        return this;
    }

    /** The tensors added so far, in write order. */
    public List<TensorEntry> tensors() {
        return List.copyOf(tensors.values());
    }

    /** The alignment the file will use: {@code general.alignment} when set, else 32. */
    public int alignment() {
        Metadata.Entry e = metadata.get("general.alignment");
        if (e == null) return GgufFile.DEFAULT_ALIGNMENT;
        if (e.type() != GgufValueType.UINT32) {
            throw new IllegalStateException("general.alignment must be a UINT32 (ggml refuses other types) but is " + e.type());
        }
        long a = ((Number) e.value()).longValue();
        if (a <= 0 || a > (1 << 20) || (a & (a - 1)) != 0) {
            throw new IllegalStateException("general.alignment " + a + " is not a power of two in [1, 2^20]");
        }
        return (int) a;
    }

    // ------------------------------------------------------------------ writing

    /** Writes one file; returns its size in bytes. */
    public long write(Path out) {
        List<TensorEntry> all = List.copyOf(tensors.values());
        Path tmp = temporary(out);
        try {
            long n = writePart(tmp, out, new ArrayList<>(metadata.entrySet()), all, alignment());
            Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            return n;
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw new UncheckedIOException("writing " + out + ": " + e.getMessage(), e);
        } catch (RuntimeException | Error e) {
            deleteQuietly(tmp);
            throw e;
        }
    }

    /**
     * Writes the file as parts {@code prefix-00001-of-0000N.gguf}, where {@code prefix} is {@code out} without its
     * {@code .gguf} suffix. A new part starts before a tensor when the current part already has
     * {@code maxTensorsPerPart} tensors, or when adding the tensor would take its padded data past
     * {@code maxBytesPerPart} (values {@code <= 0} mean no limit); every part holds at least one tensor. Same rules
     * as gguf-split's {@code --split-max-tensors} / {@code --split-max-size}. Returns the parts in order.
     */
    public List<Path> writeSplit(Path out, int maxTensorsPerPart, long maxBytesPerPart) {
        int alignment = alignment();
        List<List<TensorEntry>> groups = new ArrayList<>();
        List<TensorEntry> current = new ArrayList<>();
        long currentBytes = 0;
        for (TensorEntry t : tensors.values()) {
            long padded = pad(t.bytes(), alignment);
            boolean full = !current.isEmpty()
                    && ((maxTensorsPerPart > 0 && current.size() >= maxTensorsPerPart)
                    || (maxBytesPerPart > 0 && currentBytes + padded > maxBytesPerPart));
            if (full) {
                groups.add(current);
                current = new ArrayList<>();
                currentBytes = 0;
            }
            current.add(t);
            currentBytes += padded;
        }
        groups.add(current);
        return writeParts(out, groups, alignment);
    }

    /** Writes the tensors as exactly {@code parts} parts of (nearly) equal tensor counts, in order. */
    public List<Path> writeSplit(Path out, int parts) {
        if (parts < 1 || parts > tensors.size()) {
            throw new IllegalArgumentException(parts + " parts for " + tensors.size() + " tensors: every part needs at least one tensor");
        }
        List<TensorEntry> all = List.copyOf(tensors.values());
        List<List<TensorEntry>> groups = new ArrayList<>();
        for (int p = 0; p < parts; p++) {
            groups.add(all.subList((int) ((long) all.size() * p / parts), (int) ((long) all.size() * (p + 1) / parts)));
        }
        return writeParts(out, groups, alignment());
    }

    /** The name of part {@code no} (1-based) of {@code count}, as llama.cpp's {@code llama_split_path}. */
    public static Path splitPath(Path out, int no, int count) {
        String name = out.getFileName().toString();
        String prefix = name.endsWith(".gguf") ? name.substring(0, name.length() - 5) : name;
        return out.resolveSibling(String.format("%s-%05d-of-%05d.gguf", prefix, no, count));
    }

    private List<Path> writeParts(Path out, List<List<TensorEntry>> groups, int alignment) {
        int count = groups.size();
        if (count > 65535) throw new IllegalArgumentException(count + " parts: split.count is a UINT16");
        List<Path> paths = new ArrayList<>();
        List<Path> temps = new ArrayList<>();
        try {
            for (int i = 0; i < count; i++) {
                List<Map.Entry<String, Metadata.Entry>> kv = new ArrayList<>();
                if (i == 0) kv.addAll(metadata.entrySet());
                kv.add(Map.entry("split.no", new Metadata.Entry(GgufValueType.UINT16, null, i, -1)));
                kv.add(Map.entry("split.count", new Metadata.Entry(GgufValueType.UINT16, null, count, -1)));
                kv.add(Map.entry("split.tensors.count", new Metadata.Entry(GgufValueType.INT32, null, tensors.size(), -1)));
                if (i > 0 && metadata.containsKey("general.alignment")) {
                    // every part is read on its own: it needs the alignment its offsets were packed with
                    kv.add(Map.entry("general.alignment", metadata.get("general.alignment")));
                }
                Path part = splitPath(out, i + 1, count);
                Path tmp = temporary(part);
                temps.add(tmp);
                writePart(tmp, part, kv, groups.get(i), alignment);
                paths.add(part);
            }
            for (int i = 0; i < count; i++) {
                Files.move(temps.get(i), paths.get(i), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            }
            return paths;
        } catch (IOException e) {
            temps.forEach(GgufWriter::deleteQuietly);
            throw new UncheckedIOException("writing " + out + " as " + count + " parts: " + e.getMessage(), e);
        } catch (RuntimeException | Error e) {
            temps.forEach(GgufWriter::deleteQuietly);
            throw e;
        }
    }

    /** The size {@link #write} will give the file, computed without writing anything (no tensor data is produced). */
    public long size() {
        int alignment = alignment();
        List<TensorEntry> all = List.copyOf(tensors.values());
        long n = header(new ArrayList<>(metadata.entrySet()), all, alignment).size();
        for (TensorEntry t : all) n += pad(t.bytes(), alignment);
        return n;
    }

    private static long writePart(Path tmp, Path target, List<Map.Entry<String, Metadata.Entry>> kv, List<TensorEntry> list,
                                  int alignment) throws IOException {
        Header h = header(kv, list, alignment);
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            BufferedSink sink = new BufferedSink(ch);
            sink.write(MemorySegment.ofArray(h.bytes()).asSlice(0, h.size()));
            for (TensorEntry t : list) {
                sink.begin(t);
                t.data().writeTo(sink);
                if (sink.written() != t.bytes()) {
                    throw new IllegalStateException(target + ": tensor " + t.name() + " wrote " + sink.written()
                            + " bytes but " + t.type() + " " + Arrays.toString(t.shape) + " takes " + t.bytes());
                }
                sink.zeros(pad(t.bytes(), alignment) - t.bytes());
            }
            sink.flush();
            return sink.total;
        }
    }

    /** Magic, counts, metadata and tensor infos (offsets packed), padded to the alignment. */
    private static Header header(List<Map.Entry<String, Metadata.Entry>> kv, List<TensorEntry> list, int alignment) {
        Header h = new Header();
        h.u32(GgufFile.MAGIC);
        h.u32(VERSION);
        h.u64(list.size());
        h.u64(kv.size());
        for (Map.Entry<String, Metadata.Entry> e : kv) {
            h.string(e.getKey());
            Metadata.Entry v = e.getValue();
            h.u32(v.type().id);
            if (v.type() == GgufValueType.ARRAY) h.array(v.elementType(), v.value());
            else h.scalar(v.type(), v.value());
        }
        long offset = 0;
        for (TensorEntry t : list) {
            h.string(t.name());
            h.u32(t.shape.length);
            for (long d : t.shape) h.u64(d);
            h.u32(t.type().id);
            h.u64(offset);
            offset += pad(t.bytes(), alignment);
        }
        h.zeros(pad(h.size(), alignment) - h.size());
        return h;
    }

    static long pad(long n, int alignment) {
        return (n + alignment - 1) / alignment * alignment;
    }

    private static Path temporary(Path out) {
        return out.resolveSibling(out.getFileName() + ".tmp");
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // the original failure is the one worth reporting
        }
    }

    private static void checkKey(String key) {
        if (key == null || key.isEmpty()) throw new IllegalArgumentException("metadata key is empty");
    }

    private static void checkScalar(String key, GgufValueType type, Object v) {
        boolean ok = switch (type) {
            case UINT8 -> v instanceof Integer i && i >= 0 && i <= 0xff;
            case INT8 -> v instanceof Integer i && i >= Byte.MIN_VALUE && i <= Byte.MAX_VALUE;
            case UINT16 -> v instanceof Integer i && i >= 0 && i <= 0xffff;
            case INT16 -> v instanceof Integer i && i >= Short.MIN_VALUE && i <= Short.MAX_VALUE;
            case INT32 -> v instanceof Integer;
            case UINT32 -> (v instanceof Long || v instanceof Integer) && ((Number) v).longValue() >= 0 && ((Number) v).longValue() <= 0xffffffffL;
            case UINT64, INT64 -> v instanceof Long || v instanceof Integer;
            case FLOAT32 -> v instanceof Float;
            case FLOAT64 -> v instanceof Double;
            case BOOL -> v instanceof Boolean;
            case STRING -> v instanceof String;
            case ARRAY -> false;
        };
        if (!ok) {
            throw new IllegalArgumentException(key + ": " + (v == null ? "null" : v.getClass().getSimpleName() + " " + v) + " is not a valid " + type + " value");
        }
    }

    private static void checkArray(String key, GgufValueType et, Object values, int depth) {
        if (et == null) throw new IllegalArgumentException(key + ": array element type is missing");
        boolean ok = switch (et) {
            case UINT8, INT8, UINT16, INT16, INT32 -> values instanceof int[] a && inRange(a, et);
            case UINT32 -> values instanceof int[] || values instanceof long[] a && inRange(a);
            case UINT64, INT64 -> values instanceof long[] || values instanceof int[];
            case FLOAT32 -> values instanceof float[];
            case FLOAT64 -> values instanceof double[];
            case BOOL -> values instanceof boolean[];
            case STRING -> values instanceof String[] a && Arrays.stream(a).allMatch(s -> s != null) || values instanceof GgufStrings;
            case ARRAY -> values instanceof Metadata.Entry[];
        };
        if (!ok) {
            throw new IllegalArgumentException(key + ": " + (values == null ? "null" : values.getClass().getSimpleName())
                    + " is not a valid array of " + et + " (or holds values out of range)");
        }
        if (et == GgufValueType.ARRAY) {
            for (Metadata.Entry inner : (Metadata.Entry[]) values) {
                if (inner == null || inner.type() != GgufValueType.ARRAY) throw new IllegalArgumentException(key + ": inner arrays must be ARRAY entries");
                if (depth >= 16) throw new IllegalArgumentException(key + ": arrays nested deeper than 16 levels");
                checkArray(key, inner.elementType(), inner.value(), depth + 1);
            }
        }
    }

    private static boolean inRange(int[] a, GgufValueType et) {
        for (int v : a) {
            boolean ok = switch (et) {
                case UINT8 -> v >= 0 && v <= 0xff;
                case INT8 -> v >= Byte.MIN_VALUE && v <= Byte.MAX_VALUE;
                case UINT16 -> v >= 0 && v <= 0xffff;
                case INT16 -> v >= Short.MIN_VALUE && v <= Short.MAX_VALUE;
                default -> true;
            };
            if (!ok) return false;
        }
        return true;
    }

    private static boolean inRange(long[] a) {
        for (long v : a) if (v < 0 || v > 0xffffffffL) return false;
        return true;
    }

    /** Growable little-endian header buffer. */
    private static final class Header {
        private byte[] buf = new byte[1 << 16];
        private int size;

        int size() {
            return size;
        }

        byte[] bytes() {
            return buf;
        }

        private void ensure(long more) {
            long need = size + more;
            if (need > Integer.MAX_VALUE - 8) throw new IllegalStateException("GGUF header larger than 2 GB");
            if (need > buf.length) buf = Arrays.copyOf(buf, (int) Math.min(Integer.MAX_VALUE - 8, Math.max(need, 2L * buf.length)));
        }

        void u8(int v) {
            ensure(1);
            buf[size++] = (byte) v;
        }

        void u16(int v) {
            ensure(2);
            buf[size++] = (byte) v;
            buf[size++] = (byte) (v >>> 8);
        }

        void u32(int v) {
            ensure(4);
            for (int i = 0; i < 4; i++) buf[size++] = (byte) (v >>> (8 * i));
        }

        void u64(long v) {
            ensure(8);
            for (int i = 0; i < 8; i++) buf[size++] = (byte) (v >>> (8 * i));
        }

        void zeros(long n) {
            ensure(n);
            size += (int) n; // the buffer is zero beyond size: it is only ever appended to
        }

        void string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            ensure(b.length);
            System.arraycopy(b, 0, buf, size, b.length);
            size += b.length;
        }

        void scalar(GgufValueType type, Object v) {
            switch (type) {
                case UINT8, INT8 -> u8((Integer) v);
                case UINT16, INT16 -> u16((Integer) v);
                case UINT32, INT32 -> u32(((Number) v).intValue());
                case UINT64, INT64 -> u64(((Number) v).longValue());
                case FLOAT32 -> u32(Float.floatToRawIntBits((Float) v));
                case FLOAT64 -> u64(Double.doubleToRawLongBits((Double) v));
                case BOOL -> u8((Boolean) v ? 1 : 0);
                case STRING -> string((String) v);
                case ARRAY -> throw new IllegalStateException("arrays are written by array()");
            }
        }

        void array(GgufValueType et, Object values) {
            u32(et.id);
            switch (values) {
                case int[] a -> {
                    u64(a.length);
                    for (int v : a) {
                        switch (et) {
                            case UINT8, INT8 -> u8(v);
                            case UINT16, INT16 -> u16(v);
                            case UINT64, INT64 -> u64(v);
                            default -> u32(v);
                        }
                    }
                }
                case long[] a -> {
                    u64(a.length);
                    for (long v : a) {
                        if (et == GgufValueType.UINT32) u32((int) v);
                        else u64(v);
                    }
                }
                case float[] a -> {
                    u64(a.length);
                    for (float v : a) u32(Float.floatToRawIntBits(v));
                }
                case double[] a -> {
                    u64(a.length);
                    for (double v : a) u64(Double.doubleToRawLongBits(v));
                }
                case boolean[] a -> {
                    u64(a.length);
                    for (boolean v : a) u8(v ? 1 : 0);
                }
                case String[] a -> {
                    u64(a.length);
                    for (String v : a) string(v);
                }
                case GgufStrings a -> { // as read: the stored bytes, each after its length
                    u64(a.size());
                    ByteBuffer raw = a.raw();
                    int n = raw.remaining();
                    ensure(n);
                    raw.get(buf, size, n);
                    size += n;
                }
                case Metadata.Entry[] a -> {
                    u64(a.length);
                    for (Metadata.Entry inner : a) array(inner.elementType(), inner.value());
                }
                default -> throw new IllegalStateException("not an array: " + values.getClass());
            }
        }
    }

    /** Buffers writes to the channel and counts the bytes of the current tensor. */
    private static final class BufferedSink implements Sink {
        private final FileChannel channel;
        private final ByteBuffer buffer = ByteBuffer.allocateDirect(BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        private final MemorySegment bufferSegment = MemorySegment.ofBuffer(buffer);
        private TensorEntry tensor;
        private long tensorWritten;
        long total;

        BufferedSink(FileChannel channel) {
            this.channel = channel;
        }

        void begin(TensorEntry t) {
            tensor = t;
            tensorWritten = 0;
        }

        @Override
        public long written() {
            return tensorWritten;
        }

        @Override
        public void write(MemorySegment bytes) throws IOException {
            long n = bytes.byteSize();
            if (tensor != null && tensorWritten + n > tensor.bytes()) {
                throw new IllegalStateException("tensor " + tensor.name() + " writes more than its " + tensor.bytes() + " bytes");
            }
            long done = 0;
            while (done < n) {
                if (!buffer.hasRemaining()) drain();
                int chunk = (int) Math.min(buffer.remaining(), n - done);
                MemorySegment.copy(bytes, done, bufferSegment, buffer.position(), chunk);
                buffer.position(buffer.position() + chunk);
                done += chunk;
            }
            tensorWritten += n;
            total += n;
        }

        void zeros(long n) throws IOException {
            for (long i = 0; i < n; i++) {
                if (!buffer.hasRemaining()) drain();
                buffer.put((byte) 0);
            }
            total += n;
        }

        private void drain() throws IOException {
            buffer.flip();
            while (buffer.hasRemaining()) channel.write(buffer);
            buffer.clear();
        }

        void flush() throws IOException {
            drain();
        }
    }
}
