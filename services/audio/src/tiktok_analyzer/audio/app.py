"""The audio service: consumes its group's batches, publishes partial results."""

from tiktok_analyzer.shared.contracts.events import Group
from tiktok_analyzer.shared.service import consumer_app, run

app = consumer_app(Group.AUDIO)


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
