"""PIL side of the image tests: `write DIR` saves PNG/JPEG/WebP files of known sizes; `read FILE` prints the PNG's text chunks."""
import json
import sys

from PIL import Image


def main():
    if sys.argv[1] == "write":
        folder = sys.argv[2]
        image = Image.new("RGB", (123, 45), (10, 200, 30))
        image.save(f"{folder}/pil.png")
        image.save(f"{folder}/pil.jpg", quality=80)
        image.save(f"{folder}/pil-progressive.jpg", quality=80, progressive=True)
        image.save(f"{folder}/pil-lossy.webp", quality=80)
        image.save(f"{folder}/pil-lossless.webp", lossless=True)
        Image.new("RGBA", (77, 33), (1, 2, 3, 128)).save(f"{folder}/pil-alpha.webp", quality=80)
    else:
        image = Image.open(sys.argv[2])
        image.load()
        print(json.dumps({"size": list(image.size), "info": {k: v for k, v in image.info.items() if isinstance(v, str)}}))


if __name__ == "__main__":
    main()
