"""Real image files for the photo tests, made with Pillow."""

from __future__ import annotations

import io

from PIL import Image

#: EXIF's GPS block (GPSInfo) and two of its tags: latitude reference and latitude.
GPS_IFD = 0x8825
GPS_LATITUDE_REF = 1
GPS_LATITUDE = 2
MAKE = 0x010F


def jpeg_with_gps(size: tuple[int, int] = (640, 480)) -> bytes:
    """A JPEG whose EXIF holds a GPS position and the camera's make."""
    image = Image.new("RGB", size, (200, 80, 40))
    exif = Image.Exif()
    exif[MAKE] = "PhoneMaker"
    exif.get_ifd(GPS_IFD).update({GPS_LATITUDE_REF: "N", GPS_LATITUDE: (39.0, 54.0, 15.0)})
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def png(size: tuple[int, int] = (300, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (10, 120, 200, 255)).save(out, format="PNG")
    return out.getvalue()


def webp(size: tuple[int, int] = (300, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 200, 20)).save(out, format="WEBP")
    return out.getvalue()


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (20, 20)).save(out, format="GIF")
    return out.getvalue()


def oversized() -> bytes:
    """A real PNG over 9 MiB (noise does not compress)."""
    import os

    side = 1800
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=0)
    data = out.getvalue()
    assert len(data) > 9 * 1024 * 1024
    return data


def exif_of(data: bytes) -> dict[int, object]:
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.getexif())
