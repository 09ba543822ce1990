package dev.ckptdiff.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;
import java.util.Optional;

import dev.ckptdiff.io.MappedFile;

/**
 * Element types, named as safetensors names them, with the names torch uses for the same type in
 * pickles (the typed storage class and the dtype attribute).
 */
public enum DType {
    BOOL(1, "BoolStorage", "bool"),
    U8(1, "ByteStorage", "uint8"),
    I8(1, "CharStorage", "int8"),
    F8_E4M3(1, "Float8_e4m3fnStorage", "float8_e4m3fn"),
    F8_E5M2(1, "Float8_e5m2Storage", "float8_e5m2"),
    I16(2, "ShortStorage", "int16"),
    U16(2, "UInt16Storage", "uint16"),
    F16(2, "HalfStorage", "float16"),
    BF16(2, "BFloat16Storage", "bfloat16"),
    I32(4, "IntStorage", "int32"),
    U32(4, "UInt32Storage", "uint32"),
    F32(4, "FloatStorage", "float32"),
    F64(8, "DoubleStorage", "float64"),
    I64(8, "LongStorage", "int64"),
    U64(8, "UInt64Storage", "uint64"),
    C64(8, "ComplexFloatStorage", "complex64");

    private final int size;
    private final String torchStorage;
    private final String torchName;

    DType(int size, String torchStorage, String torchName) {
        this.size = size;
        this.torchStorage = torchStorage;
        this.torchName = torchName;
    }

    public int size() {
        return size;
    }

    /** The dtype's name in torch, as in {@code torch.bfloat16}. */
    public String torchName() {
        return torchName;
    }

    public String torchStorageClass() {
        return torchStorage;
    }

    public boolean isFloatingPoint() {
        return switch (this) {
            case F8_E4M3, F8_E5M2, F16, BF16, F32, F64 -> true;
            default -> false;
        };
    }

    public static Optional<DType> fromSafetensors(String name) {
        try {
            return Optional.of(valueOf(name.toUpperCase(Locale.ROOT)));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    public static Optional<DType> fromTorchStorage(String className) {
        for (DType d : values()) {
            if (d.torchStorage.equals(className)) {
                return Optional.of(d);
            }
        }
        return Optional.empty();
    }

    /** From a torch dtype attribute name, including its aliases ({@code half}, {@code float}, ...). */
    public static Optional<DType> fromTorchName(String name) {
        String canonical = switch (name) {
            case "half" -> "float16";
            case "float" -> "float32";
            case "double" -> "float64";
            case "long" -> "int64";
            case "int" -> "int32";
            case "short" -> "int16";
            case "cfloat" -> "complex64";
            default -> name;
        };
        for (DType d : values()) {
            if (d.torchName.equals(canonical)) {
                return Optional.of(d);
            }
        }
        return Optional.empty();
    }

    /** One element as a double; exact for every type but 64-bit integers beyond 2^53. */
    public double read(MemorySegment seg, long byteOffset) {
        return switch (this) {
            case BOOL, U8 -> Byte.toUnsignedInt(seg.get(ValueLayout.JAVA_BYTE, byteOffset));
            case I8 -> seg.get(ValueLayout.JAVA_BYTE, byteOffset);
            case F8_E4M3 -> e4m3ToFloat(seg.get(ValueLayout.JAVA_BYTE, byteOffset));
            case F8_E5M2 -> Float.float16ToFloat((short) (seg.get(ValueLayout.JAVA_BYTE, byteOffset) << 8));
            case I16 -> seg.get(MappedFile.SHORT_LE, byteOffset);
            case U16 -> Short.toUnsignedInt(seg.get(MappedFile.SHORT_LE, byteOffset));
            case F16 -> Float.float16ToFloat(seg.get(MappedFile.SHORT_LE, byteOffset));
            case BF16 -> Float.intBitsToFloat(seg.get(MappedFile.SHORT_LE, byteOffset) << 16);
            case I32 -> seg.get(MappedFile.INT_LE, byteOffset);
            case U32 -> Integer.toUnsignedLong(seg.get(MappedFile.INT_LE, byteOffset));
            case F32 -> Float.intBitsToFloat(seg.get(MappedFile.INT_LE, byteOffset));
            case F64 -> Double.longBitsToDouble(seg.get(MappedFile.LONG_LE, byteOffset));
            case I64 -> seg.get(MappedFile.LONG_LE, byteOffset);
            case U64 -> unsignedToDouble(seg.get(MappedFile.LONG_LE, byteOffset));
            case C64 -> Float.intBitsToFloat(seg.get(MappedFile.INT_LE, byteOffset)); // real part
        };
    }

    /**
     * Stores a value as this floating-point type, rounding to nearest even as torch's {@code .to()}
     * does; NaN stays NaN. Integer types are not converted: copy their bytes instead.
     */
    public void write(MemorySegment seg, long byteOffset, double value) {
        switch (this) {
            case F32 -> seg.set(MappedFile.INT_LE, byteOffset, Float.floatToRawIntBits((float) value));
            case F64 -> seg.set(MappedFile.LONG_LE, byteOffset, Double.doubleToRawLongBits(value));
            case F16 -> seg.set(MappedFile.SHORT_LE, byteOffset, Float.floatToFloat16((float) value));
            case BF16 -> seg.set(MappedFile.SHORT_LE, byteOffset, toBf16((float) value));
            default -> throw new IllegalArgumentException("no conversion to " + this);
        }
    }

    /** Round to nearest even, as torch's fp32 -> bf16 copy does. */
    public static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40); // keep the sign, force a quiet NaN
        }
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    private static double unsignedToDouble(long v) {
        return v >= 0 ? v : (double) (v >>> 1) * 2.0 + (v & 1);
    }

    /** float8 e4m3fn: bias 7, no infinities, S.1111.111 is NaN. */
    static float e4m3ToFloat(byte b) {
        int sign = (b & 0x80) != 0 ? -1 : 1;
        int exp = (b >> 3) & 0xF;
        int mant = b & 0x7;
        if (exp == 0xF && mant == 0x7) {
            return Float.NaN;
        }
        float v = exp == 0 ? mant / 8f * 0x1p-6f : (1 + mant / 8f) * (float) Math.scalb(1.0, exp - 7);
        return sign * v;
    }
}
